// The sign-in form: the token is checked against the page's role before leaving this page (a
// wrong token stays here with the reason in Chinese) and travels in the fragment, never to the
// server's logs.
import { PAGE_ROLES, ROLE_LABEL, refusalFor, whoIs } from "./common.js";

const $ = (id) => document.getElementById(id);
const why = new URLSearchParams(location.hash.slice(1));
if (why.get("refused")) {
  const role = why.get("role");
  $("refusal").textContent = why.get("refused") === "role" && role in ROLE_LABEL && why.get("page") in PAGE_ROLES
    ? refusalFor(why.get("page"), { role }) : refusalFor(null, null);
  history.replaceState(null, "", location.pathname);
}

$("signin").addEventListener("submit", async (e) => {
  e.preventDefault();
  const token = $("token").value.trim();
  const page = e.submitter.value;
  $("refusal").textContent = "正在核对令牌…";
  let me;
  try {
    me = await whoIs(token);
  } catch (err) {
    $("refusal").textContent = `无法核对令牌：${err.message}`;
    return;
  }
  const refusal = refusalFor(page, me);
  if (refusal) {
    $("refusal").textContent = refusal;
    return;
  }
  location.href = `${page}#token=${encodeURIComponent(token)}`;
});
