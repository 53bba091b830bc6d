//! `useradmin role list`, `useradmin grant EMAIL ROLE` and `useradmin revoke
//! EMAIL ROLE`: roles from the command line, which acts as `cli` and may grant
//! anything.

use std::process::ExitCode;

use clap::Subcommand;

use crate::{
    config::Settings,
    db,
    db::roles::RoleRow,
    domain::RoleName,
    write::{Actor, WriteError},
};

#[derive(Debug, Subcommand)]
pub enum RoleCommand {
    /// List every role: its name, whether it is built in, its permissions.
    #[command(after_help = super::SAME_SETTINGS)]
    List,
}

pub async fn run(settings: Settings, command: RoleCommand) -> anyhow::Result<ExitCode> {
    match command {
        RoleCommand::List => {
            let pool = super::database(&settings).await?;
            print!("{}", table(&db::roles::list(&pool).await?));
            Ok(ExitCode::SUCCESS)
        }
    }
}

/// The roles as a table with a header row, columns padded to their widest.
fn table(roles: &[RoleRow]) -> String {
    let rows: Vec<[String; 3]> =
        std::iter::once(["NAME", "BUILTIN", "PERMISSIONS"].map(str::to_owned))
            .chain(roles.iter().map(|role| {
                let permissions = role.permission_set().names().join(",");
                [
                    role.name.clone(),
                    if role.builtin { "yes" } else { "no" }.to_owned(),
                    if permissions.is_empty() {
                        "-".to_owned()
                    } else {
                        permissions
                    },
                ]
            }))
            .collect();
    let width = |column: usize| {
        rows.iter()
            .map(|r| r[column].chars().count())
            .max()
            .unwrap_or(0)
    };
    let (name, builtin) = (width(0), width(1));
    rows.iter()
        .map(|[n, b, p]| format!("{n:name$}  {b:builtin$}  {p}\n"))
        .collect()
}

/// Grants (`grant`) or takes (`!grant`) one role to or from the user with
/// this email. An unknown email or role exits 1, changing nothing.
pub async fn change(
    settings: Settings,
    email: &str,
    role: &str,
    grant: bool,
) -> anyhow::Result<ExitCode> {
    let (pool, writer) = super::writer(&settings).await?;
    let email = email.trim();
    let Some(role) = db::roles::find_by_name(&pool, role.trim()).await? else {
        eprintln!(
            "useradmin: no role is named {role:?} (`useradmin role list` shows them); nothing was changed"
        );
        return Ok(ExitCode::FAILURE);
    };
    let Some(user) = db::users::find_by_email(&pool, email).await? else {
        eprintln!("useradmin: no user has the email {email}; nothing was changed");
        return Ok(ExitCode::FAILURE);
    };
    let name = RoleName::parse(&role.name)?;
    let actor = Actor::cli_user();
    let changed = if grant {
        writer.grant_role(&actor, user.id, &name).await
    } else {
        writer.revoke_role(&actor, user.id, &name).await
    };
    match (changed, grant) {
        (Ok(true), true) => println!("{} now holds the role {}", user.email, role.name),
        (Ok(true), false) => println!("{} no longer holds the role {}", user.email, role.name),
        (Ok(false), true) => println!(
            "{} already held the role {}; nothing was changed",
            user.email, role.name
        ),
        (Ok(false), false) => println!(
            "{} did not hold the role {} directly; nothing was changed",
            user.email, role.name
        ),
        (Err(WriteError::LastAdmin), _) => {
            eprintln!(
                "useradmin: {}; nothing was changed",
                crate::write::LAST_ADMIN
            );
            return Ok(ExitCode::FAILURE);
        }
        (Err(other), _) => return Err(other.into()),
    }
    Ok(ExitCode::SUCCESS)
}
