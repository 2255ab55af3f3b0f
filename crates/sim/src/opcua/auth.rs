//! Who may open a session on which endpoint.
//!
//! Anonymous users only on the endpoint without security; the configured
//! users only on the secure endpoint, where their passwords travel
//! encrypted. Every user who may log in may read every tag and write every
//! setpoint.
//!
//! LIMITATION: there are no read-only users; the simulator's users are all
//! operators.

use async_trait::async_trait;
use opcua::crypto::SecurityPolicy;
use opcua::server::authenticator::{
    AuthManager, Password, UserToken, user_pass_security_policy_id,
};
use opcua::server::{ANONYMOUS_USER_TOKEN_ID, ServerEndpoint};
use opcua::types::{Error, StatusCode, UAString, UserTokenPolicy, UserTokenType};
use sha2::{Digest, Sha256};

use super::events;

/// The policy id anonymous users present, as the stack expects it.
const ANONYMOUS_POLICY: &str = "anonymous";

/// A user of the secure endpoint, with a digest of the password: the
/// password itself is not kept, and digests of equal length compare in
/// the same time whatever a guess shares with the password.
pub(super) struct User {
    /// The user name.
    name: String,
    /// SHA-256 of the password.
    digest: [u8; 32],
}

impl User {
    /// A user named `name` with `password`.
    pub(super) fn new(name: &str, password: &str) -> User {
        User {
            name: name.to_owned(),
            digest: Sha256::digest(password.as_bytes()).into(),
        }
    }

    /// Whether `password` is this user's.
    fn accepts(&self, password: &str) -> bool {
        let guess: [u8; 32] = Sha256::digest(password.as_bytes()).into();
        guess
            .iter()
            .zip(&self.digest)
            .fold(0u8, |differ, (a, b)| differ | (a ^ b))
            == 0
    }
}

/// Decides logins for the simulator's server.
pub(super) struct Authenticator {
    /// The users of the secure endpoint.
    users: Vec<User>,
}

impl Authenticator {
    /// An authenticator for `users`.
    pub(super) fn new(users: Vec<User>) -> Authenticator {
        Authenticator { users }
    }
}

/// Whether `endpoint` is the one without security.
fn is_insecure(endpoint: &ServerEndpoint) -> bool {
    endpoint.security_policy() == SecurityPolicy::None
}

fn refuse(user: Option<&str>, status: StatusCode, reason: &str) -> Error {
    events::login_refused(user, reason);
    Error::new(status, reason.to_owned())
}

#[async_trait]
impl AuthManager for Authenticator {
    async fn authenticate_anonymous_token(&self, endpoint: &ServerEndpoint) -> Result<(), Error> {
        if !is_insecure(endpoint) {
            return Err(refuse(
                None,
                StatusCode::BadIdentityTokenRejected,
                "anonymous users may only use the endpoint without security",
            ));
        }
        events::login_accepted(None);
        Ok(())
    }

    async fn authenticate_username_identity_token(
        &self,
        endpoint: &ServerEndpoint,
        username: &str,
        password: &Password,
    ) -> Result<UserToken, Error> {
        if is_insecure(endpoint) {
            return Err(refuse(
                Some(username),
                StatusCode::BadIdentityTokenRejected,
                "user names are only accepted on the secure endpoint",
            ));
        }
        let known = self.users.iter().find(|user| user.name == username);
        // An unknown user and a wrong password get the same answer, so the
        // answer does not tell which user names exist.
        if !known.is_some_and(|user| user.accepts(password.get())) {
            return Err(refuse(
                Some(username),
                StatusCode::BadUserAccessDenied,
                "unknown user or wrong password",
            ));
        }
        events::login_accepted(Some(username));
        Ok(UserToken(username.to_owned()))
    }

    fn user_token_policies(&self, endpoint: &ServerEndpoint) -> Vec<UserTokenPolicy> {
        if is_insecure(endpoint) {
            return vec![UserTokenPolicy {
                policy_id: UAString::from(ANONYMOUS_POLICY),
                token_type: UserTokenType::Anonymous,
                issued_token_type: UAString::null(),
                issuer_endpoint_url: UAString::null(),
                security_policy_uri: UAString::null(),
            }];
        }
        if self.users.is_empty() {
            return Vec::new();
        }
        vec![UserTokenPolicy {
            policy_id: user_pass_security_policy_id(endpoint),
            token_type: UserTokenType::UserName,
            issued_token_type: UAString::null(),
            issuer_endpoint_url: UAString::null(),
            // Null: the password is encrypted as the endpoint's policy says.
            security_policy_uri: UAString::null(),
        }]
    }
}

/// The user token ids the stack's endpoint configuration lists: anonymous
/// for the endpoint without security, none for the secure one (its users
/// are known to [`Authenticator`] alone).
pub(super) fn token_ids(insecure: bool) -> Vec<String> {
    if insecure {
        vec![ANONYMOUS_USER_TOKEN_ID.to_owned()]
    } else {
        Vec::new()
    }
}

#[cfg(test)]
mod tests {
    use opcua::types::MessageSecurityMode;

    use super::*;

    fn endpoints() -> (ServerEndpoint, ServerEndpoint) {
        let insecure = ServerEndpoint::new_none("/", &token_ids(true));
        let secure = ServerEndpoint::new(
            "/",
            SecurityPolicy::Basic256Sha256,
            MessageSecurityMode::SignAndEncrypt,
            &token_ids(false),
        );
        (insecure, secure)
    }

    fn status(error: Error) -> StatusCode {
        error.status()
    }

    #[tokio::test]
    async fn anonymous_users_get_only_the_endpoint_without_security() {
        let (insecure, secure) = endpoints();
        let auth = Authenticator::new(vec![User::new("operator", "valve-7")]);
        assert!(auth.authenticate_anonymous_token(&insecure).await.is_ok());
        let refused = auth
            .authenticate_anonymous_token(&secure)
            .await
            .unwrap_err();
        assert_eq!(status(refused), StatusCode::BadIdentityTokenRejected);

        let kinds = |endpoint| -> Vec<UserTokenType> {
            auth.user_token_policies(endpoint)
                .iter()
                .map(|policy| policy.token_type)
                .collect()
        };
        assert_eq!(kinds(&insecure), [UserTokenType::Anonymous]);
        assert_eq!(kinds(&secure), [UserTokenType::UserName]);
        let nobody = Authenticator::new(Vec::new());
        assert!(nobody.user_token_policies(&secure).is_empty());
    }

    #[tokio::test]
    async fn users_log_in_only_encrypted_and_a_stranger_looks_like_a_wrong_password() {
        let (insecure, secure) = endpoints();
        let auth = Authenticator::new(vec![User::new("operator", "valve-7")]);
        let password = |text: &str| Password::new(text.to_owned());
        let token = auth
            .authenticate_username_identity_token(&secure, "operator", &password("valve-7"))
            .await
            .unwrap();
        assert_eq!(token, UserToken("operator".to_owned()));

        let in_clear = auth
            .authenticate_username_identity_token(&insecure, "operator", &password("valve-7"))
            .await
            .unwrap_err();
        assert_eq!(status(in_clear), StatusCode::BadIdentityTokenRejected);
        for (user, guess) in [("operator", "valve-8"), ("intruder", "valve-7")] {
            let refused = auth
                .authenticate_username_identity_token(&secure, user, &password(guess))
                .await
                .unwrap_err();
            assert_eq!(status(refused), StatusCode::BadUserAccessDenied, "{user}");
        }
    }

    #[test]
    fn a_user_accepts_its_own_password_only() {
        let user = User::new("operator", "valve-7");
        assert!(user.accepts("valve-7"));
        assert!(!user.accepts("valve-8"));
        assert!(!user.accepts(""));
        assert!(!user.accepts("valve-7 "));
    }
}
