pub struct Request {}
pub struct Reply {}

#[rpcnet::service]
pub trait Api {
    async fn call(&self, request: Streaming<Streaming<Request>>) -> Result<Reply, Status>;
}
