use rpcnet::Status;

#[derive(Debug, Clone)]
pub struct Request {}
pub struct Reply {}
pub struct Pair(u32, u32);
pub struct Generic<T> {
    pub value: T,
}

pub fn helper() -> u32 {
    1
}

impl Request {}

pub trait NotAService {
    async fn call(&self, request: Request) -> Result<Reply, Status>;
}

#[rpcnet::service]
pub trait Api {
    const LIMIT: u32;
    async fn call(&self, request: Request) -> Result<Reply, Status> {
        todo!()
    }
}
