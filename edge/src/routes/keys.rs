//! Who is calling: the deployment's operator (`ADMIN_TOKEN`: every shop, creating shops and their
//! first keys) or one of a shop's own API keys (`shared::api_key`: scoped, stored hashed in the
//! shop's object, good for that shop only). And the key routes, `/v1/shops/{shop}/keys`.

use crate::api::{random_bytes, SHOP};
use crate::config::Config;
use crate::error::{AppError, AppResult};
use crate::http::{body_bytes, call_ok, decode, json};
use crate::protocol::{KeyCheck, KeyOutcome, ShopCommand};
use shared::api_key::{self, Presented, Scope};
use shared::wire::{KeyList, KeyRequest, KeyView};
use worker::{Env, Request, Response};

/// Who an admin call comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Caller {
    Operator,
    Key { id: String, scope: Scope },
}

impl Caller {
    /// How key listings record who created a key.
    fn label(&self) -> String {
        match self {
            Caller::Operator => "operator".to_owned(),
            Caller::Key { id, .. } => id.clone(),
        }
    }

    fn scope(&self) -> Scope {
        match self {
            Caller::Operator => Scope::Admin,
            Caller::Key { scope, .. } => *scope,
        }
    }
}

fn bearer(req: &Request) -> String {
    let given = req.headers().get("Authorization").ok().flatten().unwrap_or_default();
    given.strip_prefix("Bearer ").unwrap_or("").trim().to_owned()
}

fn unauthorized() -> AppError {
    AppError::Unauthorized("unauthorized", "admin token or API key missing or wrong".into())
}

/// The operator's calls: `Authorization: Bearer <ADMIN_TOKEN>`. An empty configured token admits
/// nobody; outside dev mode a development token admits nobody either (500 `misconfigured`).
pub fn require_operator(req: &Request, cfg: &Config) -> AppResult<()> {
    if let Some(why) = cfg.admin_refusal() {
        return Err(AppError::Misconfigured(why));
    }
    let token = bearer(req);
    if cfg.admin_token.is_empty() || !api_key::constant_time_eq(&token, &cfg.admin_token) {
        return Err(unauthorized());
    }
    Ok(())
}

/// An admin call on `{shop}` that needs `needed`: the operator, or a live key of this shop with
/// that scope or more. A key of another shop is 403 `wrong_shop` (when it is a real key there:
/// otherwise 401), a revoked one 401 `key_revoked`, too small a scope 403 `insufficient_scope`.
pub async fn authorize(req: &Request, env: &Env, cfg: &Config, shop: &str, needed: Scope) -> AppResult<Caller> {
    if let Some(caller) = key_if_any(req, env, shop, needed).await? {
        return Ok(caller);
    }
    require_operator(req, cfg)?;
    Ok(Caller::Operator)
}

/// Whether a bearer token is one of the shop's keys with `needed` scope (the inventory feed's
/// alternative to a signature). `None` when the request carries no key at all.
pub async fn key_if_any(req: &Request, env: &Env, shop: &str, needed: Scope) -> AppResult<Option<Caller>> {
    let token = bearer(req);
    if !token.starts_with(api_key::PREFIX) {
        return Ok(None);
    }
    let caller = key_caller(env, &token, shop).await?;
    if !caller.scope().allows(needed) {
        return Err(AppError::Forbidden(
            "insufficient_scope",
            format!("this call needs a key with the {} scope", needed.as_str()),
        ));
    }
    Ok(Some(caller))
}

async fn key_caller(env: &Env, token: &str, shop: &str) -> AppResult<Caller> {
    let presented = Presented::parse(token).ok_or_else(unauthorized)?;
    // The shop named in a key is checked against its own object: only a real key earns a 403.
    if crate::api::check_shop(presented.shop).is_err() {
        return Err(unauthorized());
    }
    let check: KeyCheck = call_ok(
        env,
        SHOP,
        presented.shop,
        &ShopCommand::VerifyKey { id: presented.id.to_owned(), hash: api_key::hash(presented.secret) },
    )
    .await?;
    match check {
        KeyCheck::Unknown => Err(unauthorized()),
        KeyCheck::Revoked => Err(AppError::Unauthorized("key_revoked", "this API key was revoked".into())),
        KeyCheck::Valid { .. } if presented.shop != shop => Err(AppError::Forbidden(
            "wrong_shop",
            format!("this API key belongs to shop {:?}, not {shop:?}", presented.shop),
        )),
        KeyCheck::Valid { scope } => Ok(Caller::Key { id: presented.id.to_owned(), scope }),
    }
}

/// `POST /v1/shops/{shop}/keys` (admin): a new key, shown whole in this answer only.
pub async fn create(mut req: Request, env: &Env, cfg: &Config, shop: &str) -> AppResult<Response> {
    let caller = authorize(&req, env, cfg, shop, Scope::Admin).await?;
    let asked: KeyRequest = decode(&body_bytes(&mut req).await?)?;
    let name = api_key::check_name(&asked.name).map_err(|m| AppError::Invalid("invalid_name", m.into()))?;
    if !caller.scope().allows(asked.scope) {
        return Err(AppError::Forbidden("insufficient_scope", "a key cannot create a key above its own scope".into()));
    }
    let minted = api_key::mint(shop, &random_bytes()?, &random_bytes()?);
    let cmd = ShopCommand::CreateKey {
        shop: shop.to_owned(),
        id: minted.id,
        hash: minted.hash,
        last4: minted.last4,
        name,
        scope: asked.scope,
        created_by: caller.label(),
    };
    let view = key_view(call_ok(env, SHOP, shop, &cmd).await?, shop)?;
    json(201, &KeyView { key: Some(minted.key), ..view })
}

/// `GET /v1/shops/{shop}/keys` (admin): every key without its secret, revoked ones too.
pub async fn list(req: Request, env: &Env, cfg: &Config, shop: &str) -> AppResult<Response> {
    authorize(&req, env, cfg, shop, Scope::Admin).await?;
    let keys: Option<Vec<KeyView>> = call_ok(env, SHOP, shop, &ShopCommand::Keys { shop: shop.to_owned() }).await?;
    let keys = keys.ok_or_else(|| AppError::NotFound("unknown_shop", format!("shop {shop:?} is not set up")))?;
    json(200, &KeyList { keys })
}

/// `POST /v1/shops/{shop}/keys/{id}/rotate` (admin): a new secret for the key; the old one stops
/// working at once.
pub async fn rotate(req: Request, env: &Env, cfg: &Config, shop: &str, id: &str) -> AppResult<Response> {
    authorize(&req, env, cfg, shop, Scope::Admin).await?;
    check_id(id)?;
    let minted = api_key::remint(shop, id, &random_bytes()?);
    let cmd =
        ShopCommand::RotateKey { shop: shop.to_owned(), id: id.to_owned(), hash: minted.hash, last4: minted.last4 };
    let view = key_view(call_ok(env, SHOP, shop, &cmd).await?, shop)?;
    json(200, &KeyView { key: Some(minted.key), ..view })
}

/// `DELETE /v1/shops/{shop}/keys/{id}` (admin): the key stops working at once (401
/// `key_revoked`); it stays listed, with when.
pub async fn revoke(req: Request, env: &Env, cfg: &Config, shop: &str, id: &str) -> AppResult<Response> {
    authorize(&req, env, cfg, shop, Scope::Admin).await?;
    check_id(id)?;
    let view = key_view(
        call_ok(env, SHOP, shop, &ShopCommand::RevokeKey { shop: shop.to_owned(), id: id.to_owned() }).await?,
        shop,
    )?;
    json(200, &view)
}

/// A key id is 12 lowercase hex digits; anything else names no key.
fn check_id(id: &str) -> AppResult<()> {
    if api_key::is_id(id) {
        Ok(())
    } else {
        Err(AppError::NotFound("unknown_key", "no such API key".into()))
    }
}

fn key_view(outcome: KeyOutcome, shop: &str) -> AppResult<KeyView> {
    match outcome {
        KeyOutcome::Key { view } => Ok(view),
        KeyOutcome::UnknownShop => Err(AppError::NotFound("unknown_shop", format!("shop {shop:?} is not set up"))),
        KeyOutcome::UnknownKey => Err(AppError::NotFound("unknown_key", "no such API key".into())),
        KeyOutcome::Revoked => Err(AppError::Conflict("key_revoked", "a revoked key cannot be rotated".into())),
        KeyOutcome::TooMany => Err(AppError::Conflict(
            "too_many_keys",
            format!("a shop holds at most {} keys, revoked ones included", api_key::MAX_KEYS),
        )),
    }
}
