pub struct Request {
    #[rpcnet(tag = 0)]
    pub zero: String,
    #[rpcnet(tag = 19500)]
    pub reserved: String,
    #[rpcnet(tag = 600000000)]
    pub too_big: String,
    #[rpcnet(tag = 18999)]
    pub below_reserved: String,
    pub runs_into_reserved: String,
}
pub struct Reply {}

#[rpcnet::service]
pub trait Api {
    async fn call(&self, request: Request) -> Result<Reply, Status>;
}
