// jiyu review: keyboard-first reviewing. Plain JS, no libraries; every decision is one fetch.
"use strict";
(function () {
  const csrf = document.querySelector('meta[name="csrf-token"]')?.content || "";
  const page = document.body.dataset.page;
  const typing = (e) => /^(INPUT|TEXTAREA|SELECT)$/.test(e.target.tagName) || e.target.isContentEditable;
  const say = (text, bad) => {
    let box = document.getElementById("flash");
    if (!box) {
      box = document.createElement("p");
      box.id = "flash";
      box.setAttribute("role", "status");
      document.querySelector("main").prepend(box);
    }
    box.className = bad ? "flash error" : "flash";
    box.textContent = text;
  };

  async function post(url, fields) {
    const body = new URLSearchParams(fields);
    const r = await fetch(url, {
      method: "POST", body, credentials: "same-origin",
      headers: { "Accept": "application/json", "X-CSRF-Token": csrf },
    });
    let data = {};
    try { data = await r.json(); } catch (_) { /* not JSON: a proxy's page */ }
    if (!r.ok) throw new Error(data.detail || `HTTP ${r.status}`);
    return data;
  }
  const go = (data) => { if (data.next) location.assign(data.next); };
  const fail = (err) => say(err.message, true);

  function undo() {
    const f = document.getElementById("undo");
    if (f) post(f.action, { queue: f.elements.queue?.value || "" }).then(go, fail);
  }

  if (page === "queue") {
    const rows = [...document.querySelectorAll("#items tbody tr[data-href]")];
    let at = -1;
    const pick = (i) => {
      if (!rows.length) return;
      at = Math.max(0, Math.min(rows.length - 1, i));
      rows.forEach((r, k) => r.classList.toggle("selected", k === at));
      rows[at].scrollIntoView({ block: "nearest" });
    };
    document.addEventListener("keydown", (e) => {
      if (typing(e) || e.ctrlKey || e.metaKey || e.altKey) return;
      if (e.key === "j") pick(at + 1);
      else if (e.key === "k") pick(at - 1);
      else if (e.key === "o" && at >= 0) location.assign(rows[at].dataset.href);
      else if (e.key === "Enter") document.getElementById("start")?.requestSubmit();
      else if (e.key === "u") undo();
      else return;
      e.preventDefault();
    });
  }

  if (page === "item") {
    const form = document.getElementById("decide");
    const spans = document.querySelectorAll("#text mark[data-spans]");
    spans.forEach((m) => m.addEventListener("mouseenter", () => {
      const on = new Set(m.dataset.spans.split(" "));
      document.querySelectorAll("tr.ev").forEach((tr) => tr.classList.toggle("hot", on.has(tr.dataset.span)));
    }));
    let rejecting = false;
    let busy = false;
    const decide = (fields) => {
      if (busy) return;  // one decision per item: a held key sends nothing twice
      busy = true;
      const data = Object.fromEntries(new FormData(form));
      delete data.csrf_token;
      post(form.action, { ...data, ...fields }).then(go, (err) => { busy = false; fail(err); });
    };
    if (form) {
      form.addEventListener("submit", (e) => {  // the buttons, by mouse: the same single request
        e.preventDefault();
        const button = e.submitter;
        if (button?.id === "skip") return skip();
        const decision = button?.value || "confirm";
        if (decision === "reject" && !form.elements.reason.value) { startReject(); return; }
        decide({ decision });
      });
    }
    const startReject = () => {
      rejecting = true;
      form.classList.add("rejecting");
      say("误报: 按 1–5 选择原因 (1 无害含义 · 2 引用 · 3 说话人错误 · 4 识别错误 · 5 其他), Esc 取消");
    };
    const skip = () => {
      if (busy) return;
      busy = true;
      post(`/items/${form.dataset.item}/skip`, { queue: form.elements.queue.value }).then(go, (err) => { busy = false; fail(err); });
    };
    document.addEventListener("keydown", (e) => {
      if (e.key === "Escape") {
        if (typing(e)) e.target.blur();
        rejecting = false;
        form?.classList.remove("rejecting");
        return;
      }
      if (typing(e) || e.ctrlKey || e.metaKey || e.altKey) return;
      const n = "123456789".indexOf(e.key) + 1;
      if (e.key === "u") undo();
      else if (e.key === "k") history.back();
      else if (!form) {
        if (e.key === "j") history.forward();
        else return;
      } else if (e.key === "j") skip();
      else if (e.key === "c") decide({ decision: "confirm" });
      else if (e.key === "r") startReject();
      else if (rejecting && n >= 1 && n <= form.elements.reason.options.length - 1) {
        form.elements.reason.selectedIndex = n;
        decide({ decision: "reject" });
      } else if (!rejecting && n >= 1 && n <= 4) {
        form.elements.category.selectedIndex = n;
        form.elements.category.classList.add("picked");
        say(`类别改为 ${form.elements.category.options[n].text}: 按 c 确认`);
      } else if (e.key === "n") form.elements.note.focus();
      else return;
      e.preventDefault();
    });
  }
})();
