//! What the shared page layout needs from every page.

/// Navigation and identity shown on every page; `None` user means signed out.
#[derive(Debug, Clone, Default)]
pub struct Layout {
    pub user: Option<NavUser>,
    pub csrf_token: String,
}

#[derive(Debug, Clone)]
pub struct NavUser {
    pub display_name: String,
    pub username: String,
    pub is_approver: bool,
    pub is_portal_admin: bool,
}
