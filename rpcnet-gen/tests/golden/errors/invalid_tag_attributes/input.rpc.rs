pub struct Request {
    #[rpcnet(tag = "7")]
    pub quoted: String,
    #[rpcnet(tag = 8, tag = 9)]
    pub twice: String,
    #[rpcnet(number = 10)]
    pub unknown_key: String,
    #[rpcnet(tag = -1)]
    pub negative: String,
}
pub struct Reply {}

#[rpcnet::service]
pub trait Api {
    async fn call(&self, request: Request) -> Result<Reply, Status>;
}
