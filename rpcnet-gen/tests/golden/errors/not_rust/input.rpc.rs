pub struct Request {
    pub name: String,
}

pub struct Reply {
    pub text String,
}
