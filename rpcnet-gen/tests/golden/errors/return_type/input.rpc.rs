pub struct Request {}
pub struct Reply {}

#[rpcnet::service]
pub trait Api {
    async fn plain(&self, request: Request) -> Reply;
    async fn wrong_error(&self, request: Request) -> Result<Reply, String>;
    async fn nothing(&self, request: Request);
    async fn one_arg(&self, request: Request) -> Result<Reply>;
    async fn unit(&self, request: Request) -> Result<(), Status>;
}
