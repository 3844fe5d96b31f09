//! All four call kinds in one service; the loopback test runs each through these stubs.
#![rpcnet(package = "kinds")]
use rpcnet::{Status, Streaming};

/// A number to work on.
pub struct Number {
    pub value: i64,
}

/// A sum or an echo.
pub struct Total {
    pub value: i64,
    /// How many numbers went into it.
    pub count: u32,
}

/// Every streaming kind.
#[rpcnet::service]
pub trait Calculator {
    /// Unary: returns the number doubled.
    async fn double(&self, request: Number) -> Result<Total, Status>;
    /// Server streaming: counts from 1 to the number.
    async fn count_to(&self, request: Number) -> Result<Streaming<Total>, Status>;
    /// Client streaming: sums the numbers.
    async fn sum(&self, request: Streaming<Number>) -> Result<Total, Status>;
    /// Bidirectional: answers each number with the running sum.
    async fn running_sum(&self, request: Streaming<Number>) -> Result<Streaming<Total>, Status>;
}
