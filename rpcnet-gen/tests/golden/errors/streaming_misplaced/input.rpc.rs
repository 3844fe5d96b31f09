pub struct Request {
    pub items: Streaming<String>,
}
pub struct Reply {}

#[rpcnet::service]
pub trait Api {
    async fn a(&self, request: Option<Streaming<Request>>) -> Result<Reply, Status>;
    async fn b(&self, request: Request) -> Result<Vec<Streaming<Reply>>, Status>;
}
