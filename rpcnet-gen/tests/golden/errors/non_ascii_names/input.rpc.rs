pub struct Größe {
    pub wert: u32,
}
pub struct Request {
    pub größe: u32,
    pub _private: u32,
}
pub struct Reply {}
pub struct lowercase {}

#[rpcnet::service]
pub trait Api {
    async fn call(&self, request: Request) -> Result<Reply, Status>;
}
