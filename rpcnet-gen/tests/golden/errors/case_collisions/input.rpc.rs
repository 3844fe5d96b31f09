pub struct Request {
    pub user_name: String,
    pub userName: String,
}
pub struct Reply {}

#[rpcnet::service]
pub trait UserApi {
    async fn get_user(&self, request: Request) -> Result<Reply, Status>;
    async fn getUser(&self, request: Request) -> Result<Reply, Status>;
}

#[rpcnet::service]
pub trait Userapi {
    async fn get(&self, request: Request) -> Result<Reply, Status>;
}
