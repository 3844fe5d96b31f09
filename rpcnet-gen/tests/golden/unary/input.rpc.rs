//! The smallest definition: one unary method. No package attribute, so the package is the
//! file stem (`input`).
use rpcnet::Status;

pub struct HelloRequest {
    pub name: String,
}

pub struct HelloReply {
    pub message: String,
}

#[rpcnet::service]
pub trait Greeter {
    async fn say_hello(&self, request: HelloRequest) -> Result<HelloReply, Status>;
}
