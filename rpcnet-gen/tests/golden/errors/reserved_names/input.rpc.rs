pub struct String {}
pub struct Status {}
pub struct Request {}
pub struct Reply {}
pub enum Color {
    Unspecified,
    LightBlue,
}
pub enum ColorLight {
    Blue,
}

#[rpcnet::service]
pub trait Crate {
    async fn connect(&self, request: Request) -> Result<Reply, Status>;
    async fn new(&self, request: Request) -> Result<Reply, Status>;
}
