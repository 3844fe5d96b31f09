//! Rust keywords as names: raw identifiers in Rust, plain names in protobuf. A dotted package.
#![rpcnet(package = "acme.keywords.v1")]
use rpcnet::Status;

pub struct Query {
    pub r#type: String,
    pub r#match: Vec<String>,
    pub r#async: bool,
    pub r#loop: Option<u32>,
}

pub struct Outcome {
    pub r#ref: String,
}

/// The module of this service is `type`, written `r#type` in Rust.
#[rpcnet::service]
pub trait Type {
    async fn r#match(&self, request: Query) -> Result<Outcome, Status>;
    async fn r#where(&self, request: Query) -> Result<Outcome, Status>;
}
