//! The collections every instance has, and the defaults a new auth collection gets.

use kb_core::collection::{
    AuthAlert, AuthOptions, EmailTemplate, MfaOptions, OAuth2MappedFields, OAuth2Options,
    OtpOptions, PasswordAuth, TokenConfig,
};
use kb_core::field::{
    BoolOptions, DomainOptions, FileOptions, PasswordOptions, TextOptions, autodate_field, id_field,
};
use kb_core::id::random_string;
use kb_core::{Collection, CollectionKind, Field, FieldKind, Rules};

pub const SUPERUSERS_ID: &str = "pbc_3142635823";
pub const SUPERUSERS: &str = "_superusers";
pub const USERS_ID: &str = "_pb_users_auth_";

pub(crate) const SECRET_ALPHABET: &[u8] =
    b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";

/// A fresh token signing secret.
pub fn new_secret() -> String {
    random_string(50, SECRET_ALPHABET)
}

/// A fresh per-record token key (`tokenKey`): changing it revokes the record's tokens.
pub fn new_token_key() -> String {
    random_string(50, SECRET_ALPHABET)
}

fn token(duration: u64) -> TokenConfig {
    TokenConfig {
        secret: new_secret(),
        duration,
    }
}

fn template(subject: &str, body: &str) -> EmailTemplate {
    EmailTemplate {
        subject: subject.into(),
        body: body.into(),
    }
}

/// Default auth options; the token durations follow PocketBase's defaults.
pub fn default_auth_options(auth_token_duration: u64) -> AuthOptions {
    AuthOptions {
        auth_rule: Some(String::new()),
        manage_rule: None,
        auth_alert: AuthAlert {
            enabled: true,
            email_template: template(
                "Login from a new location",
                "<p>Hi,</p>\n<p>Your {APP_NAME} account was just signed in from a new location:</p>\n<p><em>{ALERT_INFO}</em></p>\n<p>If that was not you, change your password right away; that signs out every other session.</p>\n<p>The {APP_NAME} team</p>",
            ),
        },
        oauth2: OAuth2Options::default(),
        password_auth: PasswordAuth {
            enabled: true,
            identity_fields: vec!["email".into()],
        },
        mfa: MfaOptions {
            enabled: false,
            duration: 600,
            rule: String::new(),
        },
        otp: OtpOptions {
            enabled: false,
            duration: 180,
            length: 8,
            email_template: template(
                "OTP for {APP_NAME}",
                "<p>Hi,</p>\n<p>Your one-time password is <strong>{OTP}</strong>.</p>\n<p>If you did not ask for it, you can ignore this email.</p>\n<p>The {APP_NAME} team</p>",
            ),
        },
        auth_token: token(auth_token_duration),
        password_reset_token: token(1800),
        email_change_token: token(1800),
        verification_token: token(86400),
        file_token: token(180),
        verification_template: template(
            "Verify your {APP_NAME} email",
            "<p>Hi,</p>\n<p>Please confirm your email address for {APP_NAME}:</p>\n<p><a href=\"{APP_URL}/_/#/auth/confirm-verification/{TOKEN}\">Verify my email</a></p>\n<p>The {APP_NAME} team</p>",
        ),
        reset_password_template: template(
            "Reset your {APP_NAME} password",
            "<p>Hi,</p>\n<p>Someone asked to reset your {APP_NAME} password. If it was you, follow this link:</p>\n<p><a href=\"{APP_URL}/_/#/auth/confirm-password-reset/{TOKEN}\">Choose a new password</a></p>\n<p>Otherwise ignore this email.</p>\n<p>The {APP_NAME} team</p>",
        ),
        confirm_email_change_template: template(
            "Confirm your {APP_NAME} new email address",
            "<p>Hi,</p>\n<p>Confirm your new email address for {APP_NAME}:</p>\n<p><a href=\"{APP_URL}/_/#/auth/confirm-email-change/{TOKEN}\">Confirm my new email</a></p>\n<p>The {APP_NAME} team</p>",
        ),
    }
}

/// The system fields of an auth collection, in PocketBase's order after `id`.
pub fn auth_system_fields() -> Vec<Field> {
    vec![
        Field::new(
            "password",
            FieldKind::Password(PasswordOptions {
                min: 8,
                required: true,
                ..Default::default()
            }),
        )
        .system()
        .hidden(),
        Field::new(
            "tokenKey",
            FieldKind::Text(TextOptions {
                min: 30,
                max: 60,
                autogenerate_pattern: "[a-zA-Z0-9]{50}".into(),
                required: true,
                ..Default::default()
            }),
        )
        .system()
        .hidden(),
        Field::new(
            "email",
            FieldKind::Email(DomainOptions {
                required: true,
                ..Default::default()
            }),
        )
        .system(),
        Field::new("emailVisibility", FieldKind::Bool(BoolOptions::default())).system(),
        Field::new("verified", FieldKind::Bool(BoolOptions::default())).system(),
    ]
}

/// The unique indexes every auth collection has.
pub fn auth_indexes(collection_id: &str, name: &str) -> Vec<String> {
    vec![
        format!("CREATE UNIQUE INDEX `idx_tokenKey_{collection_id}` ON `{name}` (`tokenKey`)"),
        format!(
            "CREATE UNIQUE INDEX `idx_email_{collection_id}` ON `{name}` (`email`) WHERE `email` != ''"
        ),
    ]
}

fn text(name: &str) -> Field {
    Field::new(name, FieldKind::Text(TextOptions::default()))
}

fn hidden_text(name: &str) -> Field {
    text(name).hidden()
}

const OWNER_RULE: &str = "@request.auth.id != '' && recordRef = @request.auth.id && collectionRef = @request.auth.collectionId";

fn system_base(
    id: &str,
    name: &str,
    fields: Vec<Field>,
    indexes: Vec<String>,
    delete_by_owner: bool,
) -> Collection {
    let mut all = vec![id_field()];
    all.extend(fields);
    all.push(autodate_field("created", false));
    all.push(autodate_field("updated", true));
    Collection {
        id: id.into(),
        name: name.into(),
        rules: Rules {
            list_rule: Some(OWNER_RULE.into()),
            view_rule: Some(OWNER_RULE.into()),
            create_rule: None,
            update_rule: None,
            delete_rule: delete_by_owner.then(|| OWNER_RULE.into()),
        },
        kind: CollectionKind::Base,
        fields: all,
        indexes,
        created: String::new(),
        updated: String::new(),
        system: true,
    }
}

fn auth_collection(
    id: &str,
    name: &str,
    extra: Vec<Field>,
    rules: Rules,
    token_duration: u64,
    system: bool,
) -> Collection {
    let mut fields = vec![id_field()];
    fields.extend(auth_system_fields());
    fields.extend(extra);
    fields.push(autodate_field("created", false));
    fields.push(autodate_field("updated", true));
    let mut options = default_auth_options(token_duration);
    if name == "users" {
        options.oauth2.mapped_fields = OAuth2MappedFields {
            name: "name".into(),
            avatar_url: "avatar".into(),
            ..Default::default()
        };
    }
    Collection {
        id: id.into(),
        name: name.into(),
        rules,
        kind: CollectionKind::Auth(Box::new(options)),
        fields,
        indexes: auth_indexes(id, name),
        created: String::new(),
        updated: String::new(),
        system,
    }
}

/// The collections a new data directory starts with, in creation order.
pub fn initial_collections() -> Vec<Collection> {
    let owner_rule = Some("id = @request.auth.id".to_owned());
    vec![
        system_base(
            "pbc_2279338944",
            "_mfas",
            vec![text("collectionRef"), text("recordRef"), text("method")],
            vec!["CREATE INDEX `idx_mfas_collectionRef_recordRef` ON `_mfas` (collectionRef,recordRef)".into()],
            false,
        ),
        system_base(
            "pbc_1638494021",
            "_otps",
            vec![
                text("collectionRef"),
                text("recordRef"),
                Field::new("password", FieldKind::Password(PasswordOptions::default())).system().hidden(),
                hidden_text("sentTo"),
            ],
            vec!["CREATE INDEX `idx_otps_collectionRef_recordRef` ON `_otps` (collectionRef, recordRef)".into()],
            false,
        ),
        system_base(
            "pbc_2281828961",
            "_externalAuths",
            vec![text("collectionRef"), text("recordRef"), text("provider"), text("providerId")],
            vec![
                "CREATE UNIQUE INDEX `idx_externalAuths_record_provider` ON `_externalAuths` (collectionRef, recordRef, provider)".into(),
                "CREATE UNIQUE INDEX `idx_externalAuths_collection_provider` ON `_externalAuths` (collectionRef, provider, providerId)".into(),
            ],
            true,
        ),
        system_base(
            "pbc_4275539003",
            "_authOrigins",
            vec![text("collectionRef"), text("recordRef"), text("fingerprint")],
            vec!["CREATE UNIQUE INDEX `idx_authOrigins_unique_pairs` ON `_authOrigins` (collectionRef, recordRef, fingerprint)".into()],
            true,
        ),
        auth_collection(SUPERUSERS_ID, SUPERUSERS, Vec::new(), Rules::default(), 86400, true),
        auth_collection(
            USERS_ID,
            "users",
            vec![
                Field::new(
                    "name",
                    FieldKind::Text(TextOptions {
                        max: 255,
                        ..Default::default()
                    }),
                ),
                Field::new(
                    "avatar",
                    FieldKind::File(FileOptions {
                        max_select: 1,
                        mime_types: ["image/jpeg", "image/png", "image/svg+xml", "image/gif", "image/webp"]
                            .map(String::from)
                            .to_vec(),
                        ..Default::default()
                    }),
                ),
            ],
            Rules {
                list_rule: owner_rule.clone(),
                view_rule: owner_rule.clone(),
                create_rule: Some(String::new()),
                update_rule: owner_rule.clone(),
                delete_rule: owner_rule,
            },
            432000,
            false,
        ),
    ]
}
