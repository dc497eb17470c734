from django.urls import path

from payshop.views import pay

urlpatterns = [path("pay", pay)]
