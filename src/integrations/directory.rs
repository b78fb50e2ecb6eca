//! Active Directory over LDAPS or StartTLS, bound as the service account: who a user is, which
//! groups they are in (nested ones included), and who is in a group.

mod entry;
pub mod escape;
pub mod filters;
mod pool;

use std::time::Duration;

use anyhow::Context;
use ldap3::adapters::{Adapter, EntriesOnly, PagedResults};
use ldap3::{Ldap, LdapConnAsync, LdapConnSettings, LdapError, Scope, SearchEntry, SearchOptions};

use super::tls;
use crate::config::{LdapConfig, UserAttribute};
use entry::{all, first, is_disabled};
use pool::Pool;

/// Longest username looked up; anything longer cannot be an AD account name or UPN.
const MAX_USERNAME_LEN: usize = 256;
/// Page size for searches that may return many entries (AD's own maximum is 1000).
const PAGE_SIZE: i32 = 500;

/// A person as the directory describes them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DirectoryUser {
    pub dn: String,
    /// The value of the configured `ldap.user_attribute`, as the directory spells it.
    pub username: String,
    pub display_name: String,
    pub email: Option<String>,
    /// userAccountControl has ACCOUNTDISABLE set. Groups are not resolved for disabled users.
    pub disabled: bool,
    /// Names (CN) of every group under `ldap.group_base_dn` the user is in, nested ones
    /// included, sorted case-insensitively.
    pub groups: Vec<String>,
    /// The part of `groups` the user is a direct member of.
    pub direct_groups: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DirectoryGroup {
    pub dn: String,
    pub cn: String,
    pub description: Option<String>,
}

/// Someone the portal can mail.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Person {
    pub username: String,
    pub display_name: String,
    pub email: String,
}

/// The directory, through a bounded pool of service-account connections. Every method fails
/// (rather than answering "nobody") when the directory cannot be asked.
pub struct Directory {
    pool: Pool,
    user_base_dn: String,
    group_base_dn: String,
    user_attribute: UserAttribute,
}

impl Directory {
    /// Prepares the pool; nothing connects until the first lookup.
    pub fn new(config: &LdapConfig) -> anyhow::Result<Directory> {
        Ok(Directory {
            pool: Pool::new(config)?,
            user_base_dn: config.user_base_dn.clone(),
            group_base_dn: config.group_base_dn.clone(),
            user_attribute: config.user_attribute,
        })
    }

    /// The user whose `ldap.user_attribute` equals `username`, with their groups; `None` when
    /// there is no such user.
    #[tracing::instrument(skip(self), err(Display))]
    pub async fn find_user(&self, username: &str) -> anyhow::Result<Option<DirectoryUser>> {
        if username.is_empty() || username.len() > MAX_USERNAME_LEN {
            return Ok(None);
        }
        let attribute = self.user_attribute.ldap_name();
        let filter = filters::user(attribute, username);
        let found = self
            .pool
            .run(|mut ldap| {
                let filter = filter.clone();
                async move {
                    let (entries, _) = ldap
                        .with_search_options(SearchOptions::new().sizelimit(2))
                        .search(
                            &self.user_base_dn,
                            Scope::Subtree,
                            &filter,
                            vec![
                                attribute,
                                "displayName",
                                "cn",
                                "mail",
                                "userAccountControl",
                                "memberOf",
                            ],
                        )
                        .await?
                        .success()?;
                    let mut entries = entries
                        .into_iter()
                        .filter(|e| !e.is_ref() && !e.is_intermediate())
                        .map(SearchEntry::construct);
                    Ok((entries.next(), entries.next().is_some()))
                }
            })
            .await?;
        let (entry, ambiguous) = found;
        anyhow::ensure!(
            !ambiguous,
            "more than one directory entry has {attribute} {username:?}"
        );
        let Some(entry) = entry else { return Ok(None) };
        let disabled = is_disabled(&entry);
        let (groups, direct_groups) = if disabled {
            (Vec::new(), Vec::new())
        } else {
            self.groups_of(&entry).await?
        };
        let username = first(&entry, attribute).unwrap_or(username).to_owned();
        Ok(Some(DirectoryUser {
            display_name: first(&entry, "displayName")
                .or_else(|| first(&entry, "cn"))
                .unwrap_or(&username)
                .to_owned(),
            email: first(&entry, "mail").map(str::to_owned),
            dn: entry.dn.clone(),
            username,
            disabled,
            groups,
            direct_groups,
        }))
    }

    /// All groups of `user` (nested included) and the direct ones among them.
    async fn groups_of(&self, user: &SearchEntry) -> anyhow::Result<(Vec<String>, Vec<String>)> {
        let filter = filters::groups_of(&user.dn);
        let entries =
            self.pool
                .run(|mut ldap| {
                    let filter = filter.clone();
                    async move {
                        search_paged(&mut ldap, &self.group_base_dn, &filter, vec!["cn"]).await
                    }
                })
                .await?;
        let direct: Vec<String> = all(user, "memberOf")
            .iter()
            .map(|dn| dn.to_lowercase())
            .collect();
        let mut groups = Vec::new();
        let mut direct_groups = Vec::new();
        for group in &entries {
            let Some(cn) = first(group, "cn") else {
                continue;
            };
            if direct.contains(&group.dn.to_lowercase()) {
                direct_groups.push(cn.to_owned());
            }
            groups.push(cn.to_owned());
        }
        sort_names(&mut groups);
        sort_names(&mut direct_groups);
        Ok((groups, direct_groups))
    }

    /// The group named `cn` under `ldap.group_base_dn`.
    #[tracing::instrument(skip(self), err(Display))]
    pub async fn find_group(&self, cn: &str) -> anyhow::Result<Option<DirectoryGroup>> {
        if cn.is_empty() || cn.len() > MAX_USERNAME_LEN {
            return Ok(None);
        }
        let filter = filters::group(cn);
        let mut groups = self.groups(&filter, 2).await?;
        anyhow::ensure!(groups.len() < 2, "more than one group is named {cn:?}");
        Ok(groups.pop())
    }

    /// Up to `limit` groups whose name starts with `prefix`, sorted by name (for a group picker).
    #[tracing::instrument(skip(self), err(Display))]
    pub async fn search_groups(
        &self,
        prefix: &str,
        limit: usize,
    ) -> anyhow::Result<Vec<DirectoryGroup>> {
        if prefix.len() > MAX_USERNAME_LEN || limit == 0 {
            return Ok(Vec::new());
        }
        let mut groups = self
            .groups(&filters::groups_with_prefix(prefix), limit)
            .await?;
        groups.sort_by_key(|g| g.cn.to_lowercase());
        Ok(groups)
    }

    /// Enabled users with a mail address in the group named `group_cn`, nested members
    /// included; empty when there is no such group.
    #[tracing::instrument(skip(self), err(Display))]
    pub async fn members_with_mail(&self, group_cn: &str) -> anyhow::Result<Vec<Person>> {
        let Some(group) = self.find_group(group_cn).await? else {
            return Ok(Vec::new());
        };
        let attribute = self.user_attribute.ldap_name();
        let filter = filters::members_with_mail(&group.dn);
        let entries = self
            .pool
            .run(|mut ldap| {
                let filter = filter.clone();
                async move {
                    search_paged(
                        &mut ldap,
                        &self.user_base_dn,
                        &filter,
                        vec![attribute, "displayName", "cn", "mail"],
                    )
                    .await
                }
            })
            .await?;
        let mut people: Vec<Person> = entries
            .iter()
            .filter_map(|e| {
                let username = first(e, attribute)?.to_owned();
                Some(Person {
                    display_name: first(e, "displayName")
                        .or_else(|| first(e, "cn"))
                        .unwrap_or(&username)
                        .to_owned(),
                    email: first(e, "mail")?.to_owned(),
                    username,
                })
            })
            .collect();
        people.sort_by_key(|p| p.username.to_lowercase());
        Ok(people)
    }

    /// Groups matching `filter`, at most `limit` (the server stops at that many).
    async fn groups(&self, filter: &str, limit: usize) -> anyhow::Result<Vec<DirectoryGroup>> {
        let size_limit = i32::try_from(limit).unwrap_or(i32::MAX);
        let entries = self
            .pool
            .run(|mut ldap| async move {
                let result = ldap
                    .with_search_options(SearchOptions::new().sizelimit(size_limit))
                    .search(
                        &self.group_base_dn,
                        Scope::Subtree,
                        filter,
                        vec!["cn", "description"],
                    )
                    .await?;
                // 4 = sizeLimitExceeded: the entries up to the limit are what was asked for.
                if result.1.rc != 0 && result.1.rc != 4 {
                    return Err(LdapError::from(result.1));
                }
                Ok(result
                    .0
                    .into_iter()
                    .filter(|e| !e.is_ref() && !e.is_intermediate())
                    .map(SearchEntry::construct)
                    .collect::<Vec<_>>())
            })
            .await?;
        Ok(entries
            .iter()
            .filter_map(|e| {
                Some(DirectoryGroup {
                    cn: first(e, "cn")?.to_owned(),
                    description: first(e, "description").map(str::to_owned),
                    dn: e.dn.clone(),
                })
            })
            .take(limit)
            .collect())
    }
}

/// A subtree search fetched page by page; continuation references (`refldap://…`, which AD
/// returns for its application partitions) are skipped.
async fn search_paged(
    ldap: &mut Ldap,
    base: &str,
    filter: &str,
    attrs: Vec<&'static str>,
) -> Result<Vec<SearchEntry>, LdapError> {
    let adapters: Vec<Box<dyn Adapter<'_, &'static str, Vec<&'static str>>>> = vec![
        Box::new(EntriesOnly::new()),
        Box::new(PagedResults::new(PAGE_SIZE)),
    ];
    let mut stream = ldap
        .streaming_search_with(adapters, base, Scope::Subtree, filter, attrs)
        .await?;
    let mut entries = Vec::new();
    while let Some(entry) = stream.next().await? {
        if entry.is_ref() || entry.is_intermediate() {
            continue;
        }
        entries.push(SearchEntry::construct(entry));
    }
    stream.finish().await.success()?;
    Ok(entries)
}

fn sort_names(names: &mut Vec<String>) {
    names.sort_by_key(|n| n.to_lowercase());
    names.dedup_by(|a, b| a.eq_ignore_ascii_case(b));
}

/// Opens a connection and binds as the configured service account.
pub async fn connect(config: &LdapConfig) -> anyhow::Result<Ldap> {
    let mut settings = LdapConnSettings::new()
        .set_conn_timeout(config.timeout)
        .set_starttls(config.starttls);
    if config.url.scheme() == "ldaps" || config.starttls {
        settings = settings.set_config(tls::client_config(config.ca_file.as_deref())?);
    }
    let (conn, mut ldap) = LdapConnAsync::with_settings(settings, config.url.as_str())
        .await
        .with_context(|| format!("cannot connect to {}", config.url))?;
    ldap3::drive!(conn);
    ldap.with_timeout(config.timeout);
    let password = config
        .bind_password
        .as_ref()
        .context("ldap.bind_password is missing")?;
    ldap.simple_bind(&config.bind_dn, password.expose())
        .await
        .context("bind request failed")?
        .success()
        .with_context(|| {
            format!(
                "binding as {} was refused (check ldap.bind_dn and the bind password)",
                config.bind_dn
            )
        })?;
    Ok(ldap)
}

/// Binds and reads the user base entry: proves reachability, TLS trust, credentials and base DN.
pub async fn probe(config: &LdapConfig) -> anyhow::Result<String> {
    let mut ldap = connect(config).await?;
    let (entries, _) = ldap
        .search(
            &config.user_base_dn,
            ldap3::Scope::Base,
            "(objectClass=*)",
            vec!["1.1"],
        )
        .await
        .context("search failed")?
        .success()
        .with_context(|| format!("ldap.user_base_dn {} cannot be read", config.user_base_dn))?;
    anyhow::ensure!(
        !entries.is_empty(),
        "ldap.user_base_dn {} does not exist",
        config.user_base_dn
    );
    let _ = tokio::time::timeout(Duration::from_secs(1), ldap.unbind()).await;
    Ok(format!("bound as {} at {}", config.bind_dn, config.url))
}
