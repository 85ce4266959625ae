from tests.factories import make_circle, make_round, make_user


def test_an_admin_can_log_in_and_see_their_round(app, client):
    with app.app_context():
        admin = make_user(superuser=True)
        circle = make_circle(admin)
        round_ = make_round(circle, admin)
        email, round_id = admin.email, round_.id
    client.login(email)
    page = client.get(f"/rounds/{round_id}")
    assert page.status_code == 200
    assert "Spring micro-grants" in page.get_data(as_text=True)
