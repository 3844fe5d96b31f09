pub struct Request {
    pub id: u64,
    pub id: u64,
}
pub struct Reply {}
pub enum Reply {
    Unspecified,
}

#[rpcnet::service]
pub trait Api {
    async fn call(&self, request: Request) -> Result<Reply, Status>;
    async fn call(&self, request: Request) -> Result<Reply, Status>;
}

#[rpcnet::service]
pub trait Api {
    async fn other(&self, request: Request) -> Result<Reply, Status>;
}

#[rpcnet::service]
pub trait Request {
    async fn other(&self, request: Request) -> Result<Reply, Status>;
}
