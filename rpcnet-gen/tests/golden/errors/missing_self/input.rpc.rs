pub struct Request {}
pub struct Reply {}

#[rpcnet::service]
pub trait Api {
    async fn call(request: Request) -> Result<Reply, Status>;
    async fn change(&mut self, request: Request) -> Result<Reply, Status>;
    async fn consume(self, request: Request) -> Result<Reply, Status>;
}
