//! The name of a tenant template (size and shape) offered by the configuration.

use super::Invalid;

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(transparent)]
pub struct TemplateName(String);

impl TemplateName {
    /// Accepts only a name the configuration offers.
    pub fn parse<'a>(
        input: &str,
        offered: impl IntoIterator<Item = &'a String>,
    ) -> Result<TemplateName, Invalid> {
        let name = input.trim();
        if name.is_empty() {
            return Err(Invalid::new("Choose a template."));
        }
        offered
            .into_iter()
            .find(|t| t.as_str() == name)
            .map(|t| TemplateName(t.clone()))
            .ok_or_else(|| Invalid::new("Choose one of the offered templates."))
    }

    pub fn from_trusted(name: String) -> TemplateName {
        TemplateName(name)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}
