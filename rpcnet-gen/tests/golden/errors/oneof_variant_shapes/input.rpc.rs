pub enum Shapes {
    Unit,
    Pair(u32, u32),
    Named { x: u32 },
    #[rpcnet(tag = 3)]
    Numbered(u32) = 4,
}
pub struct Request {
    pub shape: Shapes,
}
pub struct Reply {}

#[rpcnet::service]
pub trait Api {
    async fn call(&self, request: Request) -> Result<Reply, Status>;
}
