// Exchanges the access token for a session cookie; the token never appears in a URL.
"use strict";

document.getElementById("login").addEventListener("submit", async (event) => {
  event.preventDefault();
  const error = document.getElementById("login-error");
  error.textContent = "";
  const response = await fetch("/api/login", {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ token: document.getElementById("token").value }),
    credentials: "same-origin",
  });
  if (response.ok) window.location.assign("/");
  else error.textContent = response.status === 401 ? "Wrong access token." : "Login failed (HTTP " + response.status + ").";
});
