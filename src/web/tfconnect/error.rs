//! Why a ThreeFold Connect sign-in failed, and what the page tells the person.
//!
//! The `Display` text is for logs and carries no secrets: never a key, a
//! ciphertext, an email address or a whole signed attempt. What a browser
//! sees comes only from [`LoginError::user_message`].

/// Everything that can stop a sign-in from completing.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum LoginError {
    /// The person pressed "cancel" in the ThreeFold Connect app.
    #[error("the sign-in was cancelled in ThreeFold Connect")]
    Cancelled,
    /// The signed attempt was made for another login than the one this
    /// browser started (or the browser kept no login at all).
    #[error("the signed state does not match the login this browser started")]
    StateMismatch,
    /// The login this browser started is older than the time a login may take.
    #[error("the login was started too long ago")]
    Expired,
    /// This login already completed once; the callback was sent again.
    #[error("this login was already used")]
    Replayed,
    /// The attempt is not signed by the key the login server has for the user.
    #[error("the signed attempt does not verify against the user's public key")]
    BadSignature,
    /// The attempt was signed for another website.
    #[error("the signed attempt was made for another application")]
    WrongApp,
    /// The login server does not know the user.
    #[error("the login server does not know this user")]
    UnknownUser,
    /// The callback, or the message inside the signed attempt, is not what
    /// the protocol sends. The text says which part, never its content.
    #[error("malformed sign-in: {0}")]
    Malformed(String),
    /// The login server could not be reached, failed or answered too slowly.
    #[error("the login server is unavailable: {0}")]
    LoginServerUnavailable(String),
    /// The login server answered, but not with a usable user record.
    #[error("the login server gave an unusable answer: {0}")]
    LoginServerInvalid(String),
    /// The shared email scope could not be decrypted with this site's key.
    #[error("the shared email could not be decrypted")]
    Decrypt,
    /// So many logins completed recently that the replay memory is full;
    /// refusing is safer than forgetting a used login.
    #[error("too many sign-ins completed recently")]
    Busy,
}

impl LoginError {
    /// What the sign-in page shows: what happened and what to do next.
    pub fn user_message(&self) -> &'static str {
        match self {
            LoginError::Cancelled => {
                "You cancelled the sign-in in ThreeFold Connect. Nothing was changed; press \
                 \"Sign in\" again whenever you are ready."
            }
            LoginError::StateMismatch => {
                "This sign-in does not belong to this browser session (perhaps it was started in \
                 another tab or the session cookie was cleared). Please press \"Sign in\" again."
            }
            LoginError::Expired => {
                "This sign-in took too long and has expired. Please press \"Sign in\" again and \
                 approve it in ThreeFold Connect within a few minutes."
            }
            LoginError::Replayed => {
                "This sign-in link was already used. If you are not signed in, please press \
                 \"Sign in\" again."
            }
            LoginError::BadSignature => {
                "The sign-in could not be verified: it was not signed by your ThreeFold Connect \
                 key. Please sign in again from the ThreeFold Connect app."
            }
            LoginError::WrongApp => {
                "The sign-in was approved for a different website, not this one. Please press \
                 \"Sign in\" again and check the website name shown in ThreeFold Connect."
            }
            LoginError::UnknownUser => {
                "The ThreeFold Connect login server does not know this user. Check that you use \
                 the right ThreeFold Connect account, then sign in again."
            }
            LoginError::Malformed(_) => {
                "The sign-in answer was incomplete or damaged. Please press \"Sign in\" again."
            }
            LoginError::LoginServerUnavailable(_) => {
                "The ThreeFold Connect login server is not reachable right now. Please try again \
                 in a few minutes."
            }
            LoginError::LoginServerInvalid(_) => {
                "The ThreeFold Connect login server gave an answer we could not use. Please try \
                 again in a few minutes."
            }
            LoginError::Decrypt => {
                "Your email address could not be read from the sign-in. Please sign in again and \
                 allow sharing your email address."
            }
            LoginError::Busy => {
                "Too many people are signing in right now. Please try again in a few minutes."
            }
        }
    }
}
