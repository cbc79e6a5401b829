// The sign-in form: the token travels in the fragment, never to the server's logs.
document.getElementById("signin").addEventListener("submit", (e) => {
  e.preventDefault();
  const token = document.getElementById("token").value.trim();
  location.href = `${e.submitter.value}#token=${encodeURIComponent(token)}`;
});
