pub struct Request {
    pub user: User,
    pub tags: Vec<Tag>,
}
pub struct Reply {}

#[rpcnet::service]
pub trait Api {
    async fn call(&self, request: Request) -> Result<Missing, Status>;
}
