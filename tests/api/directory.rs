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
