pub enum StartsAtOne {
    First = 1,
    Second,
}
pub enum Repeats {
    Zero,
    One,
    Again = 1,
}
pub enum Empty {}
pub enum Huge {
    Zero,
    Big = 3000000000,
}
pub struct Request {}
pub struct Reply {}

#[rpcnet::service]
pub trait Api {
    async fn call(&self, request: Request) -> Result<Reply, Status>;
}
