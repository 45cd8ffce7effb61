"""Domain: pick one of the Cloudflare zones of the account; shows the DNS records that will be created."""

from __future__ import annotations

from textual import on, work
from textual.app import ComposeResult
from textual.containers import Horizontal, VerticalScroll
from textual.widgets import Button, Checkbox, Footer, Input, Label, OptionList, Static

from swarmwiz.flows.draft import Draft, problems, wildcard_holder
from swarmwiz.tui.screens.base import DraftScreen
from swarmwiz.tui.widgets.topbar import TopBar


def planned_records(draft: Draft) -> list[str]:
    """The DNS records the module creates, one line each (the IPs are known only after apply)."""
    names = [f"*.{draft.dns_name}"] + ([draft.dns_name] if draft.apex else [])
    return [f"{name:<28} A  public IP of manager-{i + 1}" for name in names for i in range(draft.managers)]


class DomainScreen(DraftScreen):
    TITLE = "5/7 Domain"
    STEP = "domain"
    HELP = (
        "swarmwiz points every name under your domain (*.<domain>) at all the managers, so a service you publish\n"
        "on ports 80 or 443 can be reached by name. The domain must be one of the domains in your Cloudflare\n"
        "account; the list shows those your token can see. Enter on a domain uses it and goes on. Ticking the\n"
        "box below also points the domain itself (not only names under it) at the managers. A subdomain gives\n"
        "the cluster names of its own below the domain, so several clusters can share one Cloudflare domain."
    )

    def __init__(self, draft: Draft) -> None:
        super().__init__(draft)
        self.zones: list[str] = []
        self.suggested = ""  # the subdomain this step filled in itself (cleared again if the reason goes away)
        self.looking = ""  # the domain whose *.DOMAIN is being looked at, until the answer is in
        self.go_on_when_looked = False  # Enter came before that answer: go on once it is in (with its suggestion)

    def compose(self) -> ComposeResult:
        yield TopBar()
        with VerticalScroll(classes="body"):
            yield Static("Your Cloudflare zones", classes="section")
            yield OptionList(id="zones-list")
            with Horizontal(classes="field"):
                yield Label("Domain")
                yield Input(self.draft.domain, id="domain", placeholder="example.com")
            with Horizontal(classes="field"):
                yield Label("Subdomain (optional)")
                yield Input(self.draft.subdomain, id="subdomain", placeholder=self._subdomain_placeholder())
            for line, kind in (("subdomain-problem", "problems"), ("subdomain-note", "warning")):
                said = Static("", id=line, classes=f"{kind} check-result", markup=False)
                said.display = False  # shown by `_say` when there is something to say
                yield said
            yield Static("", id="subdomain-help", classes="hint check-result", markup=False)
            yield Checkbox("Also point the domain itself (apex) at the managers", self.draft.apex, id="apex")
            yield Static("Records that will be created", classes="section")
            yield Static("", id="records", markup=False)
            yield Static("", id="problems", classes="problems", markup=False)
        yield from self.nav()
        yield Footer()

    def on_mount(self) -> None:
        super().on_mount()
        self.query_one("#zones-list", OptionList).add_option("Loading zones...")
        self.query_one("#zones-list", OptionList).disabled = True
        self._show_records()
        self.load_zones()

    @work(thread=True, name="list dns zones", group="list dns zones", exclusive=True, exit_on_error=False)
    def load_zones(self) -> None:
        zones = self.services.dns_zones(self.wizard.credentials)
        self.app.call_from_thread(self._show_zones, zones)

    def _show_zones(self, zones: list[str]) -> None:
        options = self.query_one("#zones-list", OptionList)
        options.clear_options()
        if not zones:
            options.add_option("The token sees no zones: type the domain below.")
            self.query_one("#domain", Input).focus()
            return
        self.zones = zones
        options.add_options(zones)
        options.disabled = False
        if self.draft.domain in zones:
            options.highlighted = zones.index(self.draft.domain)
        elif not self.draft.domain:
            self.query_one("#domain", Input).value = zones[0]
            options.highlighted = 0
        options.focus()
        if self.draft.domain in zones:  # coming back to this step: the field keeps its value, so look now
            self.start_look(self.draft.domain)

    def start_look(self, domain: str) -> None:
        self.looking = domain
        self.look_at_wildcard(domain)

    def _looked(self, domain: str) -> None:
        """The look at `domain` is over (answered or not): an Enter that came meanwhile goes on now."""
        if not self.is_attached or self.looking != domain:
            return  # the step is done, or another domain is being looked at
        self.looking = ""
        if self.go_on_when_looked:
            self.go_on_when_looked = False
            self.next()

    @work(thread=True, name="look at the wildcard", group="look at the wildcard", exclusive=True, exit_on_error=False)
    def look_at_wildcard(self, domain: str) -> None:
        from swarmwiz.core.errors import SwarmwizError

        try:
            records = self.services.dns_records(self.wizard.credentials, domain)
        except SwarmwizError:
            # Only a suggestion: pre-flight checks the names again before anything is created.
            self.app.call_from_thread(self._looked, domain)
            return
        holder = wildcard_holder(records, domain)
        self.app.call_from_thread(self._suggest_subdomain, domain, holder)
        self.app.call_from_thread(self._looked, domain)

    def _suggest_subdomain(self, domain: str, holder: str | None) -> None:
        """When *.DOMAIN is already in use, fill in the cluster's name as the subdomain (unless the user typed one):
        pre-flight would refuse to share the wildcard."""
        if not self.is_attached or self.query_one("#domain", Input).value.strip().lower() != domain:
            return  # the step is done, or the user has moved on to another domain meanwhile
        field = self.query_one("#subdomain", Input)
        name = self.draft.name.rstrip("-")
        if holder:
            filled = bool(name) and field.value.strip() in ("", self.suggested)
            if filled:
                self.suggested = field.value = name
            self._say(
                "#subdomain-note",
                f"*.{domain} is already taken by {holder}, so this cluster needs a subdomain of its own"
                + (f"; its name is filled in, for *.{name}.{domain}." if filled else "."),
            )
        else:
            self._say("#subdomain-note", "")
            if self.suggested and field.value.strip() == self.suggested:
                field.value = ""
            self.suggested = ""

    def worker_failed(self, name: str, exc: BaseException) -> bool:
        if name == "look at the wildcard":
            self._looked(self.looking)
            return True  # only a suggestion: a notification is enough, the zones and the field stay as they are
        options = self.query_one("#zones-list", OptionList)
        options.clear_options()
        options.add_option("Could not list zones: type the domain below.")
        self.query_one("#domain", Input).focus()
        return True  # shown here: the App only notifies (a dialog would take the keys meant for the field)

    def collect(self) -> Draft:
        # The subdomain is taken as typed (not lowercased): the spec's own rule judges it, as in a cluster.toml.
        return self.draft.update(
            domain=self.query_one("#domain", Input).value.strip().lower(),
            subdomain=self.query_one("#subdomain", Input).value.strip(),
            apex=self.query_one("#apex", Checkbox).value,
        )

    def _say(self, selector: str, text: str) -> None:
        """A line under the subdomain field, taking no room while it has nothing to say."""
        line = self.query_one(selector, Static)
        line.update(text)
        line.display = bool(text)

    def _subdomain_placeholder(self, domain: str = "") -> str:
        return f"none: *.{domain or self.draft.domain or 'example.com'}"

    def _show_records(self) -> None:
        draft = self.collect()
        self.query_one("#records", Static).update("\n".join(planned_records(draft)))
        domain = draft.domain or "DOMAIN"
        self.query_one("#subdomain", Input).placeholder = self._subdomain_placeholder(draft.domain)
        self.query_one("#subdomain-help", Static).update(
            f"Leave empty to use *.{domain}; with a subdomain such as demo, the cluster gets *.demo.{domain}. "
            "Use one per cluster when several clusters share a domain."
        )

    @on(OptionList.OptionHighlighted, "#zones-list")
    def _zone_highlighted(self, event: OptionList.OptionHighlighted) -> None:
        if not event.option_list.disabled:
            self.query_one("#domain", Input).value = str(event.option.prompt)

    @on(OptionList.OptionSelected, "#zones-list")
    def _zone_selected(self, event: OptionList.OptionSelected) -> None:
        if not event.option_list.disabled:
            self.query_one("#domain", Input).value = str(event.option.prompt)
            self.next()

    @on(Input.Changed, "#domain")
    @on(Input.Changed, "#subdomain")
    @on(Checkbox.Changed, "#apex")
    def _changed(self) -> None:
        self._show_records()

    @on(Input.Changed, "#domain")
    def _domain_changed(self, event: Input.Changed) -> None:
        domain = event.value.strip().lower()
        if domain in self.zones:  # one of the account's zones: its records can be read
            self.start_look(domain)
        else:
            self.looking = ""
            self._suggest_subdomain(domain, None)

    @on(Input.Submitted, "#domain")
    @on(Input.Submitted, "#subdomain")
    @on(Button.Pressed, "#next")
    def next(self) -> None:
        draft = self.collect()
        if self.looking and self.looking == draft.domain:
            # Going on now would miss a *.DOMAIN held by another cluster (the plan would then fail on Review).
            self.go_on_when_looked = True
            self.query_one("#problems", Static).update(f"Checking whether *.{draft.domain} is free...")
            return
        found = problems(draft, "domain")
        # The subdomain's problem goes under its own field; the others below the records, as before.
        of_subdomain = [p for p in found if p.field == "dns.subdomain"]
        others = [p for p in found if p.field != "dns.subdomain"]
        self._say("#subdomain-problem", "\n".join(of_subdomain))
        self.query_one("#problems", Static).update("\n".join(others))
        if found:
            self.query_one("#domain" if others else "#subdomain", Input).focus()
            return
        self.dismiss(draft)
