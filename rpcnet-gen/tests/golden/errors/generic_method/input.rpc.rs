pub struct Request {}
pub struct Reply {}

#[rpcnet::service]
pub trait Api<T> {
    async fn call<R>(&self, request: Request) -> Result<Reply, Status>;
    unsafe fn risky(&self, request: Request) -> Result<Reply, Status>;
    async fn pattern(&self, (a, b): Request) -> Result<Reply, Status>;
}
