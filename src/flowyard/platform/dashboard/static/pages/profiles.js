// Profiles and contributors: the caller's profiles with their roles; owners and admins add
// and remove contributors; admins see users and create profiles.
import { API, del, get, post, put } from "../api.js";
import { button, card, empty, enc, h, pageHead, pill, replace, stat, table, toast } from "../ui.js";

const ROLE_PILL = { owner: "accent", admin: "accent" };

export default async function profiles(ctx) {
  const { view, me } = ctx;
  ctx.crumbs([["Profiles", "#/profiles"]]);
  const list = h("div", { id: "profiles-list" });
  const users = h("div", { id: "users-list" });
  view.append(pageHead("Profiles", "A profile is a namespace with one owner and contributors " +
    "who can edit or view it."),
  h("div", { class: "stats" },
    stat("You", me.name, me.admin ? "platform admin" : "user"),
    stat("Profiles", String(me.profiles.length), "you can see"),
    stat("Owned", String(me.profiles.filter((p) => p.role === "owner").length), "by you")),
  list);
  if (me.admin) view.append(card("Users", users, { id: "card-users",
    actions: adminForms(() => load()) }));

  async function load() {
    const data = await get(`${API}/profiles`);
    if (!ctx.alive()) return;
    replace(list, data.items.length ? data.items.map(profileCard)
      : empty("You are not in any profile yet; an admin can add you."));
    if (me.admin) {
      const u = await get(`${API}/users`);
      replace(users, table([
        { label: "User", cell: (x) => x.name },
        { label: "Role", cell: (x) => (x.admin ? pill("admin", "accent") : pill("user")) },
        { label: "Profiles", cell: (x) => data.items.filter((p) => p.owner === x.name ||
          x.name in p.contributors).map((p) => pill(p.name)) },
      ], u.items));
    }
  }

  function profileCard(p) {
    const manage = p.role === "owner" || p.role === "admin";
    const rows = [{ user: p.owner, role: "owner" },
      ...Object.entries(p.contributors).map(([user, role]) => ({ user, role }))];
    const body = table([
      { label: "User", cell: (r) => [r.user, r.user === me.name ? h("span", { class: "muted small" }, " (you)") : ""] },
      { label: "Role", cell: (r) => pill(r.role, ROLE_PILL[r.role] || "") },
      { label: "", cls: "num", cell: (r) => (manage && r.role !== "owner" ? button("Remove", async () => {
        try {
          await del(`${API}/profiles/${enc(p.name)}/contributors/${enc(r.user)}`);
          toast(`Removed ${r.user} from ${p.name}.`);
          load();
        } catch (err) { toast(err.message, "bad"); }
      }, "btn btn-small btn-danger") : "") },
    ], rows, { rowAttrs: (r) => ({ dataset: { user: r.user, role: r.role } }) });
    let form = null;
    if (manage) {
      const user = h("input", { placeholder: "user name", "aria-label": "user", name: "user" });
      const role = h("select", { "aria-label": "role", name: "role" },
        h("option", { value: "edit" }, "edit"), h("option", { value: "view" }, "view"));
      const add = button("Add contributor", async () => {
        if (!user.value.trim()) return;
        try {
          await put(`${API}/profiles/${enc(p.name)}/contributors/${enc(user.value.trim())}`,
            { role: role.value });
          toast(`${user.value.trim()} can now ${role.value} ${p.name}.`);
          load();
        } catch (err) { toast(err.message, "bad"); }
      }, "btn btn-primary");
      form = h("div", { class: "inline-form add-contributor" }, user, role, add);
    }
    return card([p.name, " ", pill(`your role: ${p.role}`, ROLE_PILL[p.role] || "")],
      [body, form ? h("div", { class: "card-foot" }, form) : null],
      { id: `profile-${p.name}`, cls: "profile-card" });
  }
  await load();
}

function adminForms(reload) {
  const name = h("input", { placeholder: "new profile", "aria-label": "profile name" });
  const owner = h("input", { placeholder: "owner (default: you)", "aria-label": "owner" });
  const create = button("Create profile", async () => {
    if (!name.value.trim()) return;
    try {
      const body = { name: name.value.trim() };
      if (owner.value.trim()) body.owner = owner.value.trim();
      await post(`${API}/profiles`, body);
      toast(`Profile ${body.name} created; reload to see it in the profile menu.`);
      name.value = "";
      owner.value = "";
      reload();
    } catch (err) { toast(err.message, "bad"); }
  }, "btn");
  return h("div", { class: "inline-form" }, name, owner, create);
}
