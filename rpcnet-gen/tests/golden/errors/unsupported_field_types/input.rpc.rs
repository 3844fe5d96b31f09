pub struct Request {
    pub name: &'static str,
    pub pair: (i32, i32),
    pub set: HashSet<String>,
    pub letter: char,
    pub byte: u8,
    pub sorted: BTreeMap<String, u32>,
    pub generic: Wrapper<String>,
    pub array: [u8; 4],
    pub size: usize,
}
pub struct Reply {}

#[rpcnet::service]
pub trait Api {
    async fn call(&self, request: Request) -> Result<Reply, Status>;
}
