//! The home page.

use askama::Template;
use askama_web::WebTemplate;

use super::Layout;

#[derive(Template, WebTemplate)]
#[template(path = "home.html")]
pub struct HomeView {
    layout: Layout,
}

pub async fn view_home_get() -> HomeView {
    HomeView {
        layout: Layout::default(),
    }
}
