use askama::Template;
use askama_web::WebTemplate;

use crate::domain::FieldErrors;
use crate::groups::views::GroupView;
use crate::http::pages::Layout;
use crate::users::views::UserPage;

/// A role as the group forms offer it.
pub struct RoleChoice {
    pub name: String,
    pub description: String,
}

/// The group fields of a form as typed (empty on a fresh form).
#[derive(Default)]
pub struct GroupFormValues {
    pub name: String,
    pub description: String,
    pub external_id: String,
    /// The roles ticked; `None` on a fresh form.
    pub roles: Option<Vec<String>>,
}

impl GroupFormValues {
    /// The form filled from a stored group.
    pub fn of(group: &GroupView) -> Self {
        Self {
            name: group.name.clone(),
            description: group.description.clone(),
            external_id: group.external_id.clone().unwrap_or_default(),
            roles: Some(group.roles.clone()),
        }
    }

    pub fn is_role_chosen(&self, name: &str) -> bool {
        self.roles
            .as_ref()
            .is_some_and(|roles| roles.iter().any(|r| r.eq_ignore_ascii_case(name)))
    }
}

#[derive(Template, WebTemplate)]
#[template(path = "groups/list.html")]
pub struct GroupsPage {
    pub layout: Layout,
    pub groups: Vec<GroupView>,
    /// How many groups match the search.
    pub total: i64,
    pub q: String,
    pub prev_href: Option<String>,
    pub next_href: Option<String>,
    /// The create form as typed, and what was wrong with it.
    pub input: GroupFormValues,
    pub errors: FieldErrors,
    pub all_roles: Vec<RoleChoice>,
}

#[derive(Template, WebTemplate)]
#[template(path = "groups/show.html")]
pub struct GroupPage {
    pub layout: Layout,
    pub group: GroupView,
    /// One page of the members, as `GET /groups/{id}/members` lists them.
    pub members: UserPage,
    /// The members search.
    pub q: String,
    pub prev_href: Option<String>,
    pub next_href: Option<String>,
    /// The edit form as typed (the stored group on a fresh page).
    pub input: GroupFormValues,
    /// The add-members box as typed.
    pub emails: String,
    pub errors: FieldErrors,
    pub all_roles: Vec<RoleChoice>,
}
