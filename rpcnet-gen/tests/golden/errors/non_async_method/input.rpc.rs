pub struct Request {}
pub struct Reply {}

#[rpcnet::service]
pub trait Api {
    fn call(&self, request: Request) -> Result<Reply, Status>;
}
