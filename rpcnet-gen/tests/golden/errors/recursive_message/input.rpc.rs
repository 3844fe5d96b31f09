pub struct Node {
    pub value: u32,
    pub next: Option<Node>,
}
pub struct Ping {
    pub pong: Pong,
}
pub struct Pong {
    pub ping: Option<Ping>,
}
pub struct Reply {}

#[rpcnet::service]
pub trait Api {
    async fn call(&self, request: Node) -> Result<Reply, Status>;
}
