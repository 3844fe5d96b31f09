pub struct Request {}
pub struct Reply {}

#[rpcnet::service]
pub trait Api {
    async fn two(&self, request: Request, extra: Request) -> Result<Reply, Status>;
    async fn none(&self) -> Result<Reply, Status>;
}
