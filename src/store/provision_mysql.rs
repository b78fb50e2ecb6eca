//! The tenant datastores on MySQL/MariaDB: a database and a certificate-bound user per tenant.
//!
//! Identifiers cannot be bound as parameters, so they are only ever built from a validated
//! tenant name (`vc_` + lowercase letters, digits and `_`), checked again here, and always quoted.

use anyhow::Context;
use sqlx::{Executor, MySqlConnection};

/// An identifier that is safe to quote: what `TenantName::database_identifier` produces.
#[derive(Debug, Clone)]
pub struct Identifier(String);

impl Identifier {
    pub fn new(name: &str) -> anyhow::Result<Identifier> {
        anyhow::ensure!(
            !name.is_empty()
                && name.len() <= 32
                && name
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_'),
            "{name:?} is not a database identifier Tenantry derives"
        );
        Ok(Identifier(name.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// `` `name` `` for CREATE/DROP DATABASE.
    fn quoted(&self) -> String {
        format!("`{}`", self.0)
    }

    /// The database as a GRANT pattern: `_` is a wildcard there, so `vc_a` would also match
    /// `vcxa`; escaped, it matches this database only.
    fn grant_pattern(&self) -> String {
        format!("`{}`", self.0.replace('_', "\\_"))
    }

    /// `'name'@'%'` for user statements.
    fn account(&self) -> String {
        format!("'{}'@'%'", self.0)
    }
}

/// A string literal for REQUIRE SUBJECT/ISSUER. Certificate names with quotes or backslashes
/// are refused rather than escaped, because their meaning depends on the server's SQL mode.
fn literal(value: &str) -> anyhow::Result<String> {
    anyhow::ensure!(
        !value.contains(['\'', '\\', '\0', '\n']),
        "the certificate name {value:?} contains a quote, backslash or control character"
    );
    Ok(format!("'{value}'"))
}

pub async fn ensure_database(conn: &mut MySqlConnection, db: &Identifier) -> anyhow::Result<()> {
    let sql = format!(
        "CREATE DATABASE IF NOT EXISTS {} CHARACTER SET utf8mb4",
        db.quoted()
    );
    conn.execute(sql.as_str())
        .await
        .context("creating the tenant database")?;
    Ok(())
}

/// The X.509 requirement the user has now, if the user exists.
pub async fn user_requirement(
    conn: &mut MySqlConnection,
    user: &Identifier,
) -> anyhow::Result<Option<(String, String)>> {
    let row: Option<(Vec<u8>, Vec<u8>)> = sqlx::query_as(
        "SELECT x509_subject, x509_issuer FROM mysql.user WHERE User = ? AND Host = '%'",
    )
    .bind(user.as_str())
    .fetch_optional(conn)
    .await
    .context("reading the tenant's database user")?;
    Ok(row.map(|(s, i)| {
        (
            String::from_utf8_lossy(&s).into_owned(),
            String::from_utf8_lossy(&i).into_owned(),
        )
    }))
}

/// Creates the user bound to the certificate's subject and issuer, or corrects its binding.
pub async fn ensure_user(
    conn: &mut MySqlConnection,
    user: &Identifier,
    subject: &str,
    issuer: &str,
) -> anyhow::Result<()> {
    let require = format!(
        "REQUIRE SUBJECT {} AND ISSUER {}",
        literal(subject)?,
        literal(issuer)?
    );
    match user_requirement(conn, user).await? {
        None => {
            let sql = format!("CREATE USER IF NOT EXISTS {} {require}", user.account());
            conn.execute(sql.as_str())
                .await
                .context("creating the tenant's database user")?;
        }
        Some((s, i)) if s == subject && i == issuer => {}
        Some(_) => {
            let sql = format!("ALTER USER {} {require}", user.account());
            conn.execute(sql.as_str())
                .await
                .context("re-binding the tenant's database user")?;
        }
    }
    Ok(())
}

/// Every privilege on the tenant's database, and nothing elsewhere.
pub async fn grant(
    conn: &mut MySqlConnection,
    db: &Identifier,
    user: &Identifier,
) -> anyhow::Result<()> {
    let sql = format!(
        "GRANT ALL PRIVILEGES ON {}.* TO {}",
        db.grant_pattern(),
        user.account()
    );
    conn.execute(sql.as_str())
        .await
        .context("granting the tenant's user its database")?;
    Ok(())
}

pub async fn drop_user(conn: &mut MySqlConnection, user: &Identifier) -> anyhow::Result<()> {
    let sql = format!("DROP USER IF EXISTS {}", user.account());
    conn.execute(sql.as_str())
        .await
        .context("dropping the tenant's database user")?;
    Ok(())
}

pub async fn drop_database(conn: &mut MySqlConnection, db: &Identifier) -> anyhow::Result<()> {
    let sql = format!("DROP DATABASE IF EXISTS {}", db.quoted());
    conn.execute(sql.as_str())
        .await
        .context("dropping the tenant database")?;
    Ok(())
}

pub async fn database_exists(conn: &mut MySqlConnection, db: &Identifier) -> anyhow::Result<bool> {
    let found: Option<String> = sqlx::query_scalar(
        "SELECT SCHEMA_NAME FROM information_schema.SCHEMATA WHERE SCHEMA_NAME = ?",
    )
    .bind(db.as_str())
    .fetch_optional(conn)
    .await
    .context("looking for the tenant database")?;
    Ok(found.is_some())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_derived_identifiers_are_accepted() {
        assert!(Identifier::new("vc_team_a").is_ok());
        for bad in [
            "",
            "vc-team",
            "vc_`x`",
            "VC_A",
            "a b",
            "vc_a;drop",
            &"a".repeat(33),
        ] {
            assert!(Identifier::new(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn grants_escape_the_underscore_wildcard() {
        let id = Identifier::new("vc_team_a").unwrap();
        assert_eq!(id.grant_pattern(), r"`vc\_team\_a`");
        assert_eq!(id.quoted(), "`vc_team_a`");
        assert_eq!(id.account(), "'vc_team_a'@'%'");
    }

    #[test]
    fn certificate_names_with_quotes_are_refused() {
        assert!(literal("/CN=vc_a/O=tenantry").is_ok());
        assert!(literal("/CN=x' OR '1").is_err());
        assert!(literal(r"/CN=a\").is_err());
    }
}
