pub struct Request {
    pub a: String,
    #[rpcnet(tag = 1)]
    pub b: String,
    #[rpcnet(tag = 5)]
    pub c: String,
    #[rpcnet(tag = 4)]
    pub d: String,
    pub e: String,
}
pub struct Reply {}

#[rpcnet::service]
pub trait Api {
    async fn call(&self, request: Request) -> Result<Reply, Status>;
}
