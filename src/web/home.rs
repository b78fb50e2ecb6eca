//! The home page: who you are, your AD groups (and which come through nesting) and your roles,
//! so people can debug their group mapping themselves.

use askama::Template;
use askama_web::WebTemplate;
use axum::extract::State;

use super::{AppState, Layout};
use crate::auth::CurrentUser;

#[derive(Template, WebTemplate)]
#[template(path = "home.html")]
pub struct HomeView {
    layout: Layout,
    me: Option<Identity>,
}

struct Identity {
    username: String,
    display_name: String,
    email: String,
    dn: String,
    groups: Vec<GroupLine>,
    roles: Vec<RoleLine>,
}

struct GroupLine {
    name: String,
    nested: bool,
}

struct RoleLine {
    name: &'static str,
    why: String,
}

pub async fn view_home_get(
    State(state): State<AppState>,
    user: Option<CurrentUser>,
    layout: Layout,
) -> HomeView {
    HomeView {
        layout,
        me: user.map(|u| identity(&u, &state)),
    }
}

fn identity(user: &CurrentUser, state: &AppState) -> Identity {
    let roles_config = &state.config.roles;
    let mut roles = vec![RoleLine {
        name: "requester",
        why: "every signed-in user may ask for a tenant".into(),
    }];
    if user.is_approver() {
        roles.push(RoleLine {
            name: "approver",
            why: granted_by(user, &roles_config.approver_groups),
        });
    }
    if user.is_portal_admin() {
        roles.push(RoleLine {
            name: "portal admin",
            why: granted_by(user, &roles_config.portal_admin_groups),
        });
    }
    Identity {
        username: user.username.clone(),
        display_name: user.display_name.clone(),
        email: user.email.clone().unwrap_or_default(),
        dn: user.dn.clone(),
        groups: user
            .groups
            .iter()
            .map(|g| GroupLine {
                name: g.clone(),
                nested: user.is_nested_member(g),
            })
            .collect(),
        roles,
    }
}

fn granted_by(user: &CurrentUser, groups: &[String]) -> String {
    let held: Vec<&str> = groups
        .iter()
        .filter(|g| user.in_group(g))
        .map(String::as_str)
        .collect();
    format!("through {}", held.join(", "))
}
