'use strict';
// "Generate rollback" on the migration form: ask the admin for the rollback of the SQL typed
// so far and put it in the rollback field (after confirming if that field is not empty).
{
    document.addEventListener('click', async function(event) {
        const button = event.target.closest('[data-sm-generate-rollback]');
        if (!button) {
            return;
        }
        event.preventDefault();
        const form = button.form;
        const target = document.getElementById(button.dataset.target);
        const status = button.parentElement.querySelector('.sm-generate-status');
        if (target.value.trim() && !window.confirm(button.dataset.confirm)) {
            return;
        }
        const body = new FormData();
        body.append('sql', form.elements.sql.value);
        body.append('csrfmiddlewaretoken', form.elements.csrfmiddlewaretoken.value);
        const response = await fetch(button.dataset.url, {method: 'POST', body: body, credentials: 'same-origin'});
        const data = await response.json();
        if (response.ok) {
            target.value = data.rollback_sql;
            status.textContent = '';
        } else {
            status.textContent = data.error || response.statusText;
        }
    });
}
