//! The group picker's search: AD groups by name prefix, for signed-in users.

use axum::Json;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use serde::{Deserialize, Serialize};

use super::AppState;
use crate::auth::CurrentUser;
use crate::domain::GroupName;
use crate::error::AppError;

/// At most this many suggestions per search.
const LIMIT: usize = 20;

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct GroupQuery {
    pub prefix: String,
}

#[derive(Serialize)]
pub struct GroupSuggestion {
    pub name: String,
    pub description: Option<String>,
}

#[derive(Serialize)]
pub struct GroupSuggestions {
    pub groups: Vec<GroupSuggestion>,
}

pub async fn api_groups_get(
    State(state): State<AppState>,
    _user: CurrentUser,
    query: Result<Query<GroupQuery>, QueryRejection>,
) -> Result<Json<GroupSuggestions>, AppError> {
    // An unreadable query (`prefix` twice) is the caller's error in the API's JSON shape, not
    // the framework's plain text.
    let Query(query) = query.map_err(|e| AppError::BadRequest(e.body_text()))?;
    let prefix = GroupName::parse(&query.prefix).map_err(|e| AppError::BadRequest(e.0))?;
    let groups = state
        .directory
        .search_groups(prefix.as_str(), LIMIT)
        .await
        .map_err(|e| AppError::unavailable("directory", e))?;
    Ok(Json(GroupSuggestions {
        groups: groups
            .into_iter()
            .map(|g| GroupSuggestion {
                name: g.cn,
                description: g.description,
            })
            .collect(),
    }))
}
