//! The stack's directory really is Samba AD with the demo tree: LDAPS with verification, UPN
//! binds and nested groups through the in-chain matching rule.

use ldap3::{LdapConnAsync, LdapConnSettings, Scope, SearchEntry};

use crate::helpers::Stack;

#[tokio::test]
async fn jjackson_is_a_tenant1_viewer_only_through_nesting() {
    let stack = Stack::get();
    let tls = tenantry::integrations::tls::client_config(Some(&stack.ca())).unwrap();
    let settings = LdapConnSettings::new().set_config(tls);
    let (conn, mut ldap) = LdapConnAsync::with_settings(settings, stack.var("LDAPS_URL"))
        .await
        .expect("LDAPS with a verified certificate");
    ldap3::drive!(conn);
    ldap.simple_bind("mmosley@corp.example.com", "start123")
        .await
        .unwrap()
        .success()
        .expect("UPN bind");

    let base = stack.var("LDAP_BASE_DN");
    let (users, _) = ldap
        .search(
            base,
            Scope::Subtree,
            "(&(objectClass=user)(sAMAccountName=jjackson))",
            vec!["memberOf"],
        )
        .await
        .unwrap()
        .success()
        .unwrap();
    let jjackson = SearchEntry::construct(users.into_iter().next().expect("jjackson exists"));
    let direct = jjackson.attrs.get("memberOf").cloned().unwrap_or_default();
    assert!(
        direct.iter().any(|g| g.starts_with("CN=tenant1-admins,")),
        "{direct:?}"
    );
    assert!(
        !direct.iter().any(|g| g.starts_with("CN=tenant1-viewers,")),
        "not a direct member: {direct:?}"
    );

    let filter = format!(
        "(&(objectClass=group)(member:1.2.840.113556.1.4.1941:={}))",
        ldap3::ldap_escape(&jjackson.dn)
    );
    let (groups, _) = ldap
        .search(base, Scope::Subtree, &filter, vec!["cn"])
        .await
        .unwrap()
        .success()
        .unwrap();
    let mut names: Vec<String> = groups
        .into_iter()
        .map(SearchEntry::construct)
        .filter_map(|e| e.attrs.get("cn").and_then(|v| v.first().cloned()))
        .collect();
    names.sort();
    assert!(names.contains(&"tenant1-viewers".to_owned()), "{names:?}");
    assert!(names.contains(&"tenant1-admins".to_owned()), "{names:?}");
    assert!(
        !names.contains(&"k8s-cluster-admins".to_owned()),
        "{names:?}"
    );
    ldap.unbind().await.unwrap();
}

mod portal_directory {
    //! The portal's `Directory`: users with nested groups, groups, group members to mail, and
    //! what happens when the directory is out of reach.

    use std::net::SocketAddr;
    use std::time::{Duration, Instant};

    use tenantry::config::{self, LdapConfig};
    use tenantry::integrations::directory::Directory;
    use tokio::net::TcpListener;

    use crate::helpers::Stack;
    use crate::helpers::app::{test_config_text, test_env};
    use crate::helpers::directory::Ad;
    use crate::helpers::proxy::Proxy;

    /// The test configuration's `[ldap]`, optionally pointed at another address.
    fn ldap_config(url: Option<String>) -> LdapConfig {
        let text = test_config_text("127.0.0.1:0".parse().unwrap());
        let mut env = test_env("postgres://unused@127.0.0.1/unused");
        if let Some(url) = url {
            env.insert("TENANTRY__LDAP__URL".into(), url);
        }
        env.insert("TENANTRY__LDAP__TIMEOUT".into(), "1s".into());
        config::load_str(&text, &env).unwrap().ldap
    }

    fn directory() -> Directory {
        Directory::new(&ldap_config(None)).unwrap()
    }

    fn ldaps_addr() -> SocketAddr {
        Stack::get().ldaps_addr()
    }

    #[tokio::test]
    async fn jjackson_resolves_with_his_direct_and_nested_groups() {
        let user = directory().find_user("jjackson").await.unwrap().unwrap();
        assert_eq!(user.username, "jjackson");
        assert_eq!(user.display_name, "Jason Jackson");
        assert_eq!(user.email.as_deref(), Some("jjackson@corp.example.com"));
        assert!(user.dn.starts_with("CN=jjackson,"), "{}", user.dn);
        assert!(!user.disabled);
        assert!(
            user.groups.contains(&"tenant1-admins".to_owned()),
            "{:?}",
            user.groups
        );
        assert!(
            user.groups.contains(&"tenant1-viewers".to_owned()),
            "{:?}",
            user.groups
        );
        assert_eq!(user.direct_groups, vec!["tenant1-admins".to_owned()]);
    }

    #[tokio::test]
    async fn usernames_with_filter_metacharacters_resolve_to_nobody() {
        let directory = directory();
        for hostile in [
            "*)(|(cn=*",
            "*",
            "jjackson*",
            "jjackson)(objectClass=*",
            "*)(sAMAccountName=mmosley",
            "(",
            "\\",
            "jj\0ackson",
        ] {
            assert_eq!(
                directory.find_user(hostile).await.unwrap(),
                None,
                "{hostile:?}"
            );
        }
        assert_eq!(directory.find_group("*").await.unwrap(), None);
        assert!(directory.members_with_mail("*").await.unwrap().is_empty());
    }

    #[tokio::test]
    async fn usernames_match_case_insensitively_and_come_back_as_the_directory_spells_them() {
        let user = directory().find_user("JJackson").await.unwrap().unwrap();
        assert_eq!(user.username, "jjackson");
        assert_eq!(directory().find_user("nosuchperson").await.unwrap(), None);
    }

    #[tokio::test]
    async fn a_disabled_user_is_found_and_marked_disabled() {
        let ad = Ad::connect().await;
        let user = ad.create_user("dis").await;
        ad.disable(&user).await;
        let found = directory()
            .find_user(&user.username)
            .await
            .unwrap()
            .unwrap();
        assert!(found.disabled);
        assert!(found.groups.is_empty());
        ad.delete(&user.dn).await;
    }

    #[tokio::test]
    async fn groups_are_found_by_name_and_by_prefix() {
        let directory = directory();
        let viewers = directory
            .find_group("tenant1-viewers")
            .await
            .unwrap()
            .unwrap();
        assert_eq!(viewers.cn, "tenant1-viewers");
        assert!(
            viewers.dn.starts_with("CN=tenant1-viewers,"),
            "{}",
            viewers.dn
        );
        assert_eq!(directory.find_group("no-such-group").await.unwrap(), None);

        let found: Vec<String> = directory
            .search_groups("tenant", 50)
            .await
            .unwrap()
            .into_iter()
            .map(|g| g.cn)
            .collect();
        for expected in ["tenant1-admins", "tenant1-viewers", "tenant2-admins"] {
            assert!(found.contains(&expected.to_owned()), "{found:?}");
        }
        let mut sorted = found.clone();
        sorted.sort_by_key(|n| n.to_lowercase());
        assert_eq!(found, sorted);
        assert_eq!(directory.search_groups("tenant", 1).await.unwrap().len(), 1);
        assert!(directory.search_groups("*", 5).await.unwrap().is_empty());
    }

    #[tokio::test]
    async fn members_with_mail_follow_nesting_and_skip_disabled_and_mailless_people() {
        let ad = Ad::connect().await;
        let outer = ad.create_group("outer").await;
        let inner = ad.create_group("inner").await;
        let direct = ad.create_user("direct").await;
        let nested = ad.create_user("nested").await;
        let disabled = ad.create_user("disabled").await;
        let mailless = ad.create_user("mailless").await;
        ad.add_member(&outer.dn, &inner.dn).await;
        ad.add_member(&outer.dn, &direct.dn).await;
        for user in [&nested, &disabled, &mailless] {
            ad.add_member(&inner.dn, &user.dn).await;
        }
        ad.disable(&disabled).await;
        ad.remove_mail(&mailless).await;

        let people = directory().members_with_mail(&outer.cn).await.unwrap();
        let mut got: Vec<(String, String)> =
            people.into_iter().map(|p| (p.username, p.email)).collect();
        got.sort();
        let mut want = vec![
            (direct.username.clone(), direct.email.clone()),
            (nested.username.clone(), nested.email.clone()),
        ];
        want.sort();
        assert_eq!(got, want);

        for dn in [
            &direct.dn,
            &nested.dn,
            &disabled.dn,
            &mailless.dn,
            &inner.dn,
            &outer.dn,
        ] {
            ad.delete(dn).await;
        }
    }

    #[tokio::test]
    async fn lookups_fail_while_the_directory_is_unreachable_and_work_again_after() {
        let proxy = Proxy::start(ldaps_addr()).await;
        let directory =
            Directory::new(&ldap_config(Some(format!("ldaps://{}", proxy.addr)))).unwrap();
        assert!(directory.find_user("pplatt").await.unwrap().is_some());

        proxy.cut();
        let error = directory.find_user("pplatt").await.unwrap_err();
        assert!(!format!("{error:#}").is_empty());

        proxy.restore();
        assert!(
            directory.find_user("pplatt").await.unwrap().is_some(),
            "no restart needed"
        );
    }

    #[tokio::test]
    async fn a_directory_that_accepts_but_never_answers_times_out() {
        // Accepts connections and then says nothing, like a hung server.
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let hold = tokio::spawn(async move {
            let mut held = Vec::new();
            while let Ok((socket, _)) = listener.accept().await {
                held.push(socket);
            }
        });
        let directory = Directory::new(&ldap_config(Some(format!("ldaps://{addr}")))).unwrap();
        let started = Instant::now();
        assert!(directory.find_user("pplatt").await.is_err());
        assert!(
            started.elapsed() < Duration::from_secs(5),
            "took {:?}",
            started.elapsed()
        );
        hold.abort();
    }
}
