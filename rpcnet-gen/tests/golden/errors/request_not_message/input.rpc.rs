pub struct Reply {}
pub enum Mode {
    Unspecified,
    Fast,
}

#[rpcnet::service]
pub trait Api {
    async fn by_mode(&self, request: Mode) -> Result<Reply, Status>;
    async fn by_name(&self, request: String) -> Result<Reply, Status>;
    async fn listed(&self, request: Vec<Reply>) -> Result<Reply, Status>;
}
