//! Pinned field numbers: a field without a pin takes the previous number plus one.
#![rpcnet(package = "evolve")]
use rpcnet::Status;

/// Version 3 of a profile: `nickname` (2) and `age` (5) were removed, so their numbers are
/// not reused.
pub struct Profile {
    pub id: u64,
    #[rpcnet(tag = 3)]
    pub email: String,
    pub display_name: String,
    #[rpcnet(tag = 6)]
    pub tags: Vec<String>,
    #[rpcnet(tag = 100)]
    pub added_later: Option<String>,
    pub after_that: bool,
    pub contact: Contact,
    #[rpcnet(tag = 20000)]
    pub far_away: u32,
}

/// Oneof members are numbered like fields; they can be pinned too.
pub enum Contact {
    #[rpcnet(tag = 50)]
    Phone(String),
    Mail(String),
    #[rpcnet(tag = 60)]
    Pager(u32),
}

pub struct ProfileId {
    #[rpcnet(tag = 9)]
    pub id: u64,
}

#[rpcnet::service]
pub trait Profiles {
    async fn fetch(&self, request: ProfileId) -> Result<Profile, Status>;
}
