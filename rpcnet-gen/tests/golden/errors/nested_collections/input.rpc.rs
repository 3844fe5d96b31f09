pub struct Request {
    pub matrix: Vec<Vec<i32>>,
    pub maybe_list: Option<Vec<String>>,
    pub maybe_maybe: Option<Option<i32>>,
    pub by_number: HashMap<u32, String>,
    pub map_of_lists: HashMap<String, Vec<String>>,
    pub boxed: Box<Reply>,
}
pub struct Reply {}

#[rpcnet::service]
pub trait Api {
    async fn call(&self, request: Request) -> Result<Reply, Status>;
}
