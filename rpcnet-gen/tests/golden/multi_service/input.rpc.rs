//! Several services in one file share the messages module.
#![rpcnet(package = "shop")]
use rpcnet::{Status, Streaming};

pub struct ItemId {
    pub id: u64,
}

pub struct Item {
    pub id: u64,
    pub title: String,
    pub price_cents: u64,
}

pub struct Empty {}

pub struct StockChange {
    pub id: u64,
    pub delta: i32,
}

/// Browsing.
#[rpcnet::service]
pub trait Catalog {
    async fn get_item(&self, request: ItemId) -> Result<Item, Status>;
    async fn list_items(&self, request: Empty) -> Result<Streaming<Item>, Status>;
}

/// Stock keeping.
#[rpcnet::service]
pub trait Inventory {
    async fn apply(&self, request: Streaming<StockChange>) -> Result<Empty, Status>;
}

/// Operational checks.
#[rpcnet::service]
pub trait HealthCheck {
    async fn check(&self, request: Empty) -> Result<Empty, Status>;
}
