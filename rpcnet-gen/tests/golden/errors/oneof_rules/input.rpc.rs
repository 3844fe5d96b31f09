pub enum Unused {
    A(String),
}
pub enum Shared {
    A(String),
    B(u64),
}
pub enum Listed {
    A(String),
}
pub enum Bad {
    Many(Vec<String>),
    Maybe(Option<u32>),
    Inner(Shared),
}
pub struct Request {
    pub first: Shared,
    pub second: Shared,
    pub listed: Vec<Listed>,
    #[rpcnet(tag = 3)]
    pub bad: Bad,
}
pub struct Reply {}

#[rpcnet::service]
pub trait Api {
    async fn call(&self, request: Request) -> Result<Reply, Status>;
}
